from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "anagen.products"
    label = "products"
