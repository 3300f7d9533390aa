from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "tillit.subjects"
    label = "subjects"
