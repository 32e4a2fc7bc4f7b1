from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import Role
from anagen.core.demo import DEMO_PATIENTS, load_demo
from anagen.patients.models import Patient


def test_demo_has_every_role_and_patients_and_is_idempotent(db):
    first = load_demo()
    counts = (User.objects.count(), Patient.objects.count(), Membership.objects.count())
    second = load_demo()
    assert (User.objects.count(), Patient.objects.count(), Membership.objects.count()) == counts
    assert first == second
    demo = Clinic.objects.get(slug="demo")
    assert {m.role for m in demo.memberships.all()} == {r.value for r in Role}
    assert Patient.objects.filter(clinic=demo).count() == DEMO_PATIENTS


def test_demo_logins_work(client, db):
    login = load_demo()[0]
    response = client.post(
        "/accounts/login/", {"username": login.username, "password": login.password}
    )
    assert response.status_code == 302


def test_healthz_reveals_no_data(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
