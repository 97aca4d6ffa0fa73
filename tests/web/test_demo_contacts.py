"""The demo CRM shows encrypted fields and masking from configuration alone (both databases):
contacts' mobile numbers are ciphertext in the database, found by the exact number, shown
masked to everyone, and revealed (audited) only by the sales roles granted `reveal`."""

from __future__ import annotations

import sqlalchemy as sa
from webutil import csrf_of, sign_in

from engine.storage import audit_log

MOBILE = "13915028861"  # zhang_wei in examples/crm/demo/30_contacts.yaml
DEMO_PASSWORD = "demo-pass-1"


def signed_in(app, username):
    client = app.test_client()
    assert sign_in(client, username, DEMO_PASSWORD).status_code == 302
    return client


def contact_id(app) -> int:
    service = app.extensions["tailor"].service
    with app.extensions["tailor"].engine.connect() as conn:
        table = service.model.entities["contact"].table
        rows = conn.execute(sa.select(table.c.id, table.c.mobile)).all()
    assert rows and all(r.mobile is None or r.mobile.startswith("enc1:") for r in rows)
    assert not any(r.mobile and MOBILE in r.mobile for r in rows)  # no clear text at rest
    found = service.list("contact", search=MOBILE, limit=5)
    assert len(found) == 1  # the keyed hash finds the exact number
    return found[0]["id"]


def test_demo_mobiles_are_encrypted_masked_and_revealed_by_sales_only(crm_app):
    wanted = contact_id(crm_app)
    service = signed_in(crm_app, "liu.yang")  # service agent: reads contacts, no reveal
    page = service.get(f"/e/contact/{wanted}").get_data(as_text=True)
    assert "139****8861" in page and MOBILE not in page
    listing = service.get("/e/contact").get_data(as_text=True)
    assert "139****8861" in listing and MOBILE not in listing
    assert service.post(f"/e/contact/{wanted}/reveal", data={"csrf_token": csrf_of(page)}).status_code in (403, 404)

    rep = signed_in(crm_app, "wang.lei")  # sales rep who owns the contact: may reveal
    page = rep.get(f"/e/contact/{wanted}").get_data(as_text=True)
    assert "139****8861" in page and MOBILE not in page
    shown = rep.post(f"/e/contact/{wanted}/reveal", data={"csrf_token": csrf_of(page)})
    assert shown.status_code == 200 and MOBILE in shown.get_data(as_text=True)
    with crm_app.extensions["tailor"].engine.connect() as conn:
        reveals = conn.execute(sa.select(audit_log.c.record_id).where(audit_log.c.action == "reveal")).all()
    assert [r.record_id for r in reveals] == [wanted]
