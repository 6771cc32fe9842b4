"""两地书, the whole trip: a child writes home at the kiosk, the class teacher forwards, the parent answers on a phone.

The scene (a school, a class with its teacher, one child on the roster) is set
through the domain; everything people do happens in Chromium: the child at the
hallway tablet, the teacher at a desk, the parent on a 360×640 phone far away,
and the child again, reading the answer with the pickup code.
"""

from __future__ import annotations

import io
import re

import pytest

from qiaoqiao.mailbox.accounts import accept_invite, grant_key, invite_user
from qiaoqiao.mailbox.clock import system_clock
from qiaoqiao.mailbox.keyring import TEACHERS, unlock_member
from qiaoqiao.mailbox.roster import apply_import, preview_import, save_class

pytestmark = pytest.mark.browser

CLASS = "三(2)班"
CHILD = "王小丫"
TEACHER = "chen"
TEACHER_PASSPHRASE = "chalk dust on the window sill"
LETTER = "妈妈，我这次数学考了九十八分。奶奶腿疼，晚上我帮她捶背。你过年回来吗？"
REPLY = "好孩子，妈妈看了你的信很高兴。过年一定回来，给你带新书包。"


def _qr_text(png: bytes) -> str | None:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcode(Image.open(io.BytesIO(png)))
    return found.text if found is not None else None


@pytest.fixture
def scene(live):
    """A school, 三(2)班 with its class teacher holding the teachers' key, and 王小丫 on the roster."""
    setup = live.create_school()
    school = setup.school
    with live.session() as session:
        invitation = invite_user(
            session=session, school=school, username=TEACHER, display_name="陈老师", roles={"teacher"}, kdf=live.settings.kdf,
            clock=system_clock, actor_user_id=setup.admin.id,
        )
        accept_invite(session=session, token=invitation.token, passphrase=TEACHER_PASSPHRASE, kdf=live.settings.kdf, clock=system_clock)
        admin_keys = unlock_member(session, school_id=school.id, user_id=setup.admin.id, passphrase=live.admin_passphrase)
        grant_key(
            session=session, school=school, keyring=admin_keys, audience_name=TEACHERS, user_id=invitation.user.id,
            clock=system_clock, actor_user_id=setup.admin.id,
        )
        save_class(session=session, school=school, name="三(1)班", teacher_user_id=None, clock=system_clock, actor_user_id=setup.admin.id)
        klass = save_class(
            session=session, school=school, name=CLASS, teacher_user_id=invitation.user.id, clock=system_clock, actor_user_id=setup.admin.id,
        )
        preview = preview_import(
            session=session, school=school, sealing=live.settings.sealing,
            table=[{"班级": CLASS, "姓名": CHILD, "监护人姓名": "王奶奶", "监护人电话": "13800138000"}],
        )
        assert (preview.creates, preview.problems) == (1, [])
        apply_import(session=session, school=school, preview=preview, sealing=live.settings.sealing, clock=system_clock, actor_user_id=setup.admin.id)
    return school, klass


def _child_writes_home(page, live, ui, school, kiosk_url: str) -> str:
    """At the hallway tablet: 给妈妈的信, the class picked from the list, the name typed. Returns the code's digits."""
    page.goto(kiosk_url)
    assert ui.path(page) == f"/s/{school.slug}/"
    page.locator("a.big-button.parent").click()
    page.wait_for_url(live.url(f"/s/{school.slug}/write/parent"))
    mum = page.locator("label.chip", has=page.locator("input[name=addressed_to][value=mother]"))
    assert ui.text(mum) == "妈妈"
    mum.click()
    ui.expect(page.locator("input[name=addressed_to][value=mother]")).to_be_checked()
    page.locator("#text").fill(LETTER)
    page.locator("#sender_name").fill(CHILD)
    page.locator("#class_id").select_option(label=CLASS)
    page.locator("#send").click()
    code = page.locator("#pickup-code")
    code.wait_for()
    shown = code.inner_text().strip()  # read at once: the kiosk goes back to the start by itself
    assert ui.code_pattern.match(shown), shown
    return shown.replace(" ", "")


def test_a_letter_home_and_the_answer(live, scene, new_context, ui, screenshots_dir):
    school, _klass = scene

    # The child, at the kiosk.
    digits = _child_writes_home(new_context().new_page(), live, ui, school, live.add_kiosk(school))
    (letter,) = live.letters()
    assert (letter.kind, letter.forward_status) == ("parent", "new") and letter.student_id is not None

    # The class teacher, at a desk (a sharper screen, for the printed QR code below).
    teacher = new_context(device_scale_factor=2).new_page()
    ui.staff_login(teacher, live, username=TEACHER, passphrase=TEACHER_PASSPHRASE)
    teacher.get_by_role("link", name="给家长的信").click()
    teacher.wait_for_url(live.url("/staff/letters-home"))
    row = teacher.locator(f"tr[data-letter='{letter.id}']")
    assert CHILD in ui.text(row) and CLASS in ui.text(row) and "未匹配到档案" not in ui.text(row)
    row.locator("button.forward").click()
    teacher.wait_for_url(re.compile(r"/forward$"))
    link = teacher.locator("#parent-link").inner_text().strip()
    code = teacher.locator("#access-code").inner_text().strip()
    assert link.startswith(live.url("/f/")) and re.fullmatch(r"\d{6}", code)
    message = teacher.locator("#message").input_value()
    assert link in message and code in message and CHILD in message and live.school_name in message
    assert _qr_text(teacher.locator("#link-qr").screenshot()) == link
    teacher.screenshot(path=str(screenshots_dir / "two_way_forwarded.png"), full_page=True)

    # The printable letter: only it is printed, with the child's words, the school, and a QR code of the link.
    ui.expect(teacher.locator("#printable")).to_be_hidden()
    teacher.emulate_media(media="print")
    printable = teacher.locator("#printable")
    ui.expect(printable).to_be_visible()
    ui.expect(teacher.locator("#parent-link")).to_be_hidden()
    printed = printable.inner_text()
    assert LETTER in printed and live.school_name in printed and "两地书" in printed and "亲爱的妈妈" in printed
    assert code in printed and f"{CHILD} · {CLASS}" in printed
    shot = printable.screenshot(path=str(screenshots_dir / "two_way_printable.png"))
    assert _qr_text(shot) == link
    pdf = teacher.pdf(format="A4")
    (screenshots_dir / "two_way_printable.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    teacher.emulate_media(media="screen")

    # The parent, on a phone far away.
    parent = new_context(**ui.phone).new_page()
    parent.goto(link)
    assert "孩子给您写了一封信" in ui.text(parent)
    assert LETTER not in ui.text(parent)
    ui.assert_fits(parent)
    parent.locator("#code").fill(code)
    parent.locator("#open").click()
    letter_text = parent.locator("#letter-text")
    ui.expect(letter_text).to_have_text(LETTER)
    assert f"{CHILD}的来信" in ui.text(parent) and live.school_name in ui.text(parent)
    ui.assert_fits(parent)
    parent.screenshot(path=str(screenshots_dir / "two_way_parent_360.png"), full_page=True)
    parent.locator("#text").fill(REPLY)
    parent.locator("#send-reply").click()
    ui.expect(parent.locator("#sent")).to_be_visible()
    assert "您的回信已经寄给孩子了" in ui.text(parent.locator("#sent"))
    ui.expect(parent.locator("#text")).to_have_value("")

    # The child, later, with the pickup code.
    child = new_context().new_page()
    child.goto(live.url(f"/s/{school.slug}/reply"))
    child.locator("#code").fill(digits)
    child.locator("form.letter-form button[type=submit]").click()
    answer = child.locator("article.bubble.theirs")
    ui.expect(answer).to_have_count(1)
    assert "家人写的" in ui.text(answer.locator(".who"))
    ui.expect(answer.locator(".text")).to_have_text(REPLY)
    assert LETTER in ui.text(child.locator("article.bubble.mine").first)
    child.screenshot(path=str(screenshots_dir / "two_way_child_reads.png"), full_page=True)

    # The teacher's list says so.
    teacher.goto(live.url("/staff/letters-home"))
    assert "家长已回信" in ui.text(teacher.locator(f"tr[data-letter='{letter.id}']"))
    assert live.letters()[0].forward_status == "answered"
