"""An ordinary pytest test run in the same session as a plan: allure-pytest reports it."""

import allure


@allure.feature("ordinary")
def test_ordinary_test_beside_a_plan() -> None:
    with allure.step("an ordinary step"):
        allure.attach("hello", name="greeting", attachment_type=allure.attachment_type.TEXT)
    assert 1 + 1 == 2
