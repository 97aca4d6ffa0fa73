"""Sign-in, language switch and the phone layout in a real browser."""

from __future__ import annotations

from browserutil import screenshot, sign_in


def test_sign_in_and_start_page(page, live_server):
    page.goto(live_server.url + "/e/customer")
    assert "/sign-in" in page.url
    sign_in(page, live_server)
    assert page.locator(".tile").count() >= 7
    screenshot(page, "home-desktop")


def test_switch_to_chinese(page, live_server):
    sign_in(page, live_server, "bob")
    page.click("button[name=language][value=zh]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh"
    assert "客户" in page.locator(".sidebar").inner_text()
    screenshot(page, "home-chinese")


def test_phone_screen_has_no_horizontal_scroll(browser, live_server):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    sign_in(phone, live_server)
    for path in ("/home", "/e/customer"):
        phone.goto(live_server.url + path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    screenshot(phone, "list-phone")
    context.close()
