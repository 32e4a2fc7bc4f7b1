from __future__ import annotations

from django import forms

from anagen.core.forms import Form
from anagen.interop.fhir_import import MAX_BUNDLE_BYTES


class FhirImportForm(Form):
    file = forms.FileField(
        required=False,
        label="FHIR Bundle (JSON file)",
        help_text="A FHIR R5 Bundle with one Patient resource (identifier, name, birthDate).",
    )
    text = forms.CharField(
        required=False,
        label="…or paste the JSON",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        max_length=MAX_BUNDLE_BYTES,
    )
    confirm_not_duplicate = forms.BooleanField(
        required=False,
        label="Register even if a patient with the same name and date of birth exists",
        help_text="Tick only when the import was refused as a possible duplicate and this "
        "is a different person.",
    )

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        text = (data.get("text") or "").strip()
        if upload and text:
            raise forms.ValidationError("Give either a file or pasted JSON, not both.")
        if not upload and not text:
            raise forms.ValidationError("Choose a file or paste the bundle JSON.")
        if upload and upload.size > MAX_BUNDLE_BYTES:
            self.add_error("file", f"The file is larger than {MAX_BUNDLE_BYTES // 2**20} MB.")
        return data

    def raw(self) -> bytes:
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read(MAX_BUNDLE_BYTES + 1)
        return self.cleaned_data["text"].encode()
