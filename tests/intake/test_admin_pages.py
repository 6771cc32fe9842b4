"""The admin's pages for kiosks and posters."""

from __future__ import annotations

import io
import re

import PIL.Image
import zxingcpp
from sqlmodel import Session

from conftest import ADMIN_PASSPHRASE, csrf_from
from qiaoqiao.mailbox.staff import new_staff_user


def _login(client, username="zhang", passphrase=ADMIN_PASSPHRASE):
    token = csrf_from(client.get("/staff/login").text)
    response = client.post("/staff/login", data={"csrf": token, "username": username, "passphrase": passphrase}, follow_redirects=False)
    assert response.status_code == 303
    return csrf_from(client.get("/staff/").text)


def test_an_admin_registers_and_revokes_a_kiosk(client, school):
    token = _login(client)
    page = client.post("/staff/admin/kiosks", data={"csrf": token, "name": "教学楼一楼"})
    url = re.search(r'id="kiosk-url">([^<]+)<', page.text).group(1)
    assert url.startswith("http://testserver/k/")
    assert client.get("/staff/admin/kiosks").text.count("/k/") == 0  # shown once only
    kiosk_path = url.removeprefix("http://testserver")
    assert client.get(kiosk_path, follow_redirects=False).status_code == 303
    kiosk_id = re.search(r'/staff/admin/kiosks/(\w+)/revoke', page.text).group(1)
    client.post(f"/staff/admin/kiosks/{kiosk_id}/revoke", data={"csrf": token})
    assert client.get(kiosk_path, follow_redirects=False).status_code == 404


def test_an_admin_makes_a_poster_with_a_working_qr_code(client, school):
    token = _login(client)
    listing = client.post("/staff/admin/posters", data={"csrf": token, "label": "宿舍二楼"})
    poster_id = re.search(r'/staff/admin/posters/(\w+)/qr.png', listing.text).group(1)
    printable = client.get(f"/staff/admin/posters/{poster_id}")
    assert "<svg" in printable.text and "用手机扫一扫" in printable.text and "宿舍二楼" in printable.text
    url = re.search(r'class="url">([^<]+)<', printable.text).group(1)
    png = client.get(f"/staff/admin/posters/{poster_id}/qr.png")
    assert png.headers["content-type"] == "image/png"
    assert [c.text for c in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png.content)))] == [url]
    svg = client.get(f"/staff/admin/posters/{poster_id}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")
    assert client.get(url.removeprefix("http://testserver"), follow_redirects=False).status_code == 303


def test_only_an_admin_may_manage_the_ways_in(client, school, engine, settings, clock):
    with Session(engine) as session:
        session.add(
            new_staff_user(
                school_id=school.school.id, username="li", roles={"teacher"}, passphrase="a teacher's own passphrase",
                kdf=settings.kdf, now=clock(),
            )
        )
        session.commit()
    token = _login(client, "li", "a teacher's own passphrase")
    assert client.get("/staff/admin/kiosks").status_code == 403
    assert client.post("/staff/admin/posters", data={"csrf": token, "label": "门口"}).status_code == 403


def test_staff_pages_need_a_login(client, school):
    for path in ("/staff/admin/kiosks", "/staff/admin/posters"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")
