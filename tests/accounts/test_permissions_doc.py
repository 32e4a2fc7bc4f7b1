from pathlib import Path

from anagen.accounts.roles import PERMISSIONS, Role, allowed, render_permissions_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_docs_permissions_md_is_the_rendered_table():
    assert DOC.read_text() == render_permissions_markdown(), (
        "docs/permissions.md is out of date: run `anagen permissions_doc`"
    )


def test_researchers_and_quality_staff_never_see_patient_records():
    for role in (Role.RESEARCHER, Role.QUALITY):
        assert not allowed(role, "patient.view")


def test_only_admins_manage_clinic_members():
    assert [r for r in Role if allowed(r, "clinic.manage")] == [Role.ADMIN]


def test_no_role_means_no_permission():
    assert not any(allowed(None, name) for name in PERMISSIONS)
