from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anagen.accounts"
    label = "accounts"
    verbose_name = "Accounts and clinics"
