"""The summary, the audit log and the reply openings through their pages."""

from __future__ import annotations

from sqlmodel import Session, col, select

from conftest import ADMIN_PASSPHRASE, csrf_from
from qiaoqiao.mailbox.tables import AuditEvent


def _login(client):
    token = csrf_from(client.get("/staff/login").text)
    client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": ADMIN_PASSPHRASE})
    return csrf_from(client.get("/staff/").text)


def test_the_summary_page_and_its_csv(client, school):
    _login(client)
    page = client.get("/staff/summary")
    assert page.status_code == 200 and "少于3的数字显示为" in page.text and 'id="summary"' in page.text
    export = client.get("/staff/summary.csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    lines = export.text.splitlines()
    assert lines[0].startswith("week_opening,letters,kind:whisper") and len(lines) == 1 + 8


def test_the_audit_page_shows_the_chain_and_finds_an_edit(client, school, engine):
    _login(client)
    page = client.get("/staff/admin/audit")
    assert page.status_code == 200 and "哈希链完整" in page.text and "login" in page.text
    with Session(engine) as session:
        first = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).first()
        first.action = "nothing.happened"
        session.add(first)
        session.commit()
    broken = client.get("/staff/admin/audit")
    assert "哈希链在第1条记录处断开" in broken.text


def test_counsellors_keep_the_reply_openings(client, school):
    token = _login(client)
    page = client.get("/staff/templates")
    assert "谢谢你告诉老师" in page.text  # a new school starts with warm openings
    client.post("/staff/templates", data={"csrf": token, "title": "考试以后", "body": "考得不好也没关系，老师想听听你的想法。"})
    letter_page_templates = client.get("/staff/templates").text
    assert "考试以后" in letter_page_templates
    refused = client.post("/staff/templates", data={"csrf": token, "title": "", "body": "x"})
    assert refused.status_code == 400
