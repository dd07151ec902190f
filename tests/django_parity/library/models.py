"""The library fixture of SEMANTICS.md (and tests/src/library.rs), as Django models."""
from django.db import models
class Country(models.Model):
    name = models.TextField()
    class Meta: app_label = "library"
class Publisher(models.Model):
    name = models.TextField()
    class Meta: app_label = "library"
class Author(models.Model):
    name = models.TextField(); age = models.IntegerField(null=True)
    country = models.ForeignKey(Country, null=True, on_delete=models.PROTECT, related_name="authors")
    class Meta: app_label = "library"
class Tag(models.Model):
    name = models.TextField()
    class Meta: app_label = "library"
class Book(models.Model):
    title = models.TextField(); pages = models.IntegerField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, null=True, on_delete=models.SET_NULL, related_name="books")
    tags = models.ManyToManyField(Tag)
    class Meta: app_label = "library"
class Lone(models.Model):
    name = models.TextField()
    class Meta: app_label = "library"
