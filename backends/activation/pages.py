"""HTML for the activation pages: plain forms, no JavaScript, every sentence from knowledge/.

The markup is built here with every value escaped; the words come from
`knowledge/texts/activation_pages.yaml` through `Texts`. Pages are accessible by construction:
a `lang` attribute, one h1, labels tied to inputs, hints and errors tied with aria-describedby,
an error summary that links to the fields, and a language switch marked with its own language.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from .security import CODE_MAX_LENGTH, PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN

SKOLA24_APP_URL = "https://halmstad-mobil.skola24.se"
NEW_PASSWORD_ATTRS = (f'required minlength="{PASSWORD_MIN}" maxlength="{PASSWORD_MAX}" '
                      'autocomplete="new-password"')

# Every text key the backend uses, with the placeholder names the code passes to it.
REQUIRED_TEXTS: dict[str, tuple[str, ...]] = {
    "activation_page.site_name": (),
    "activation_page.switch_language": (),
    "activation_page.footer": (),
    "activation_page.start_title": (),
    "activation_page.start_intro": (),
    "activation_page.code_label": (),
    "activation_page.code_hint": (),
    "activation_page.code_missing": (),
    "activation_page.next_button": (),
    "activation_page.credentials_title": (),
    "activation_page.credentials_intro": (),
    "activation_page.username_label": (),
    "activation_page.username_hint": ("min", "max"),
    "activation_page.password_label": (),
    "activation_page.password_hint": ("min",),
    "activation_page.password_confirm_label": (),
    "activation_page.create_button": (),
    "activation_page.errors_heading": (),
    "activation_page.error_username_length": ("min", "max"),
    "activation_page.error_username_chars": (),
    "activation_page.error_username_taken": (),
    "activation_page.error_password_short": ("min",),
    "activation_page.error_password_long": ("max",),
    "activation_page.error_password_contains_username": (),
    "activation_page.error_password_common": (),
    "activation_page.error_password_mismatch": (),
    "activation_page.done_title": (),
    "activation_page.done_text": (),
    "activation_page.invalid_title": (),
    "activation_page.invalid_text": ("hours",),
    "activation_page.new_code_link": (),
    "activation_page.forbidden_title": (),
    "activation_page.forbidden_text": (),
    "activation_page.start_over_link": (),
    "activation_page.bad_request_title": (),
    "activation_page.bad_request_text": (),
    "activation_page.not_found_title": (),
    "activation_page.not_found_text": (),
    "activation_page.too_many_title": (),
    "activation_page.too_many_text": (),
    "activation_page.error_title": (),
    "activation_page.error_text": (),
    "activation_page.mail_subject": (),
    "activation_page.mail_body": ("link", "hours"),
}

# Values the field errors are formatted with.
ERROR_ARGS = {
    "activation_page.error_username_length": {"min": USERNAME_MIN, "max": USERNAME_MAX},
    "activation_page.error_password_short": {"min": PASSWORD_MIN},
    "activation_page.error_password_long": {"max": PASSWORD_MAX},
}
ERROR_FIELD = {
    "activation_page.code_missing": "code",
    "activation_page.error_username_length": "username",
    "activation_page.error_username_chars": "username",
    "activation_page.error_username_taken": "username",
    "activation_page.error_password_short": "password",
    "activation_page.error_password_long": "password",
    "activation_page.error_password_contains_username": "password",
    "activation_page.error_password_common": "password",
    "activation_page.error_password_mismatch": "password_confirm",
}


@dataclass
class Texts:
    """Look up the activation texts by key and language, filling in placeholders."""

    entries: dict

    def get(self, key: str, lang: str, **values: object) -> str:
        """Return the text for `key` in `lang`, formatted with `values`."""
        return self.entries[key][lang].format(**values)

    def html(self, key: str, lang: str, **values: object) -> str:
        """Return the text as escaped HTML paragraphs (a blank line starts a new one)."""
        paragraphs = [p.strip() for p in self.get(key, lang, **values).split("\n\n") if p.strip()]
        return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def other_language(lang: str) -> str:
    """Return the language the switch link offers."""
    return "en" if lang == "sv" else "sv"


def query(path: str, **params: str | None) -> str:
    """Return a relative URL with the non-empty parameters, for links that must survive mounting."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


@dataclass
class Page:
    """One page to render: its title key, body HTML and where the language switch leads."""

    title_key: str
    body: str
    switch_href: str
    error_count: int = 0


def layout(texts: Texts, lang: str, page: Page) -> str:
    """Wrap a page body in the shared document: head, header with language switch, footer."""
    other = other_language(lang)
    title = texts.get(page.title_key, lang)
    site = texts.get("activation_page.site_name", lang)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} – {escape(site)}</title>\n"
        '<link rel="stylesheet" href="style.css">\n</head>\n<body>\n'
        f'<header><span class="site-name">{escape(site)}</span>'
        f'<a href="{escape(page.switch_href)}" lang="{other}" hreflang="{other}">'
        f'{escape(texts.get("activation_page.switch_language", lang))}</a></header>\n'
        f"<main>\n<h1>{escape(title)}</h1>\n{page.body}\n</main>\n"
        f'<footer>{texts.html("activation_page.footer", lang)}</footer>\n'
        "</body>\n</html>\n"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{escape(value)}">'


def _error_summary(texts: Texts, lang: str, errors: list[str]) -> str:
    if not errors:
        return ""
    items = "".join(
        f'<li><a href="#{ERROR_FIELD.get(key, "code")}">'
        f"{escape(texts.get(key, lang, **ERROR_ARGS.get(key, {})))}</a></li>"
        for key in errors
    )
    return (f'<div class="errors" role="alert" tabindex="-1" aria-labelledby="errors-heading">'
            f'<h2 id="errors-heading">{escape(texts.get("activation_page.errors_heading", lang))}</h2>'
            f"<ul>{items}</ul></div>\n")


def _field(texts: Texts, lang: str, *, name: str, label_key: str, input_type: str,
           value: str = "", hint: str = "", errors: list[str], attrs: str = "") -> str:
    """Render one labelled input with its hint and its own error messages."""
    own = [key for key in errors if ERROR_FIELD.get(key) == name]
    described = []
    hint_html = ""
    if hint:
        hint_html = f'<p class="hint" id="{name}-hint">{escape(hint)}</p>'
        described.append(f"{name}-hint")
    error_html = ""
    if own:
        error_html = "".join(
            f'<p class="field-error" id="{name}-error-{i}">'
            f"{escape(texts.get(key, lang, **ERROR_ARGS.get(key, {})))}</p>"
            for i, key in enumerate(own))
        described.extend(f"{name}-error-{i}" for i in range(len(own)))
    aria = f' aria-describedby="{" ".join(described)}"' if described else ""
    invalid = ' aria-invalid="true"' if own else ""
    value_attr = f' value="{escape(value)}"' if value else ""
    return (f'<div class="field"><label for="{name}">{escape(texts.get(label_key, lang))}</label>'
            f"{hint_html}{error_html}"
            f'<input id="{name}" name="{name}" type="{input_type}"{value_attr}{aria}{invalid} {attrs}>'
            "</div>\n")


def start_page(texts: Texts, lang: str, *, code: str, csrf: str, errors: list[str]) -> Page:
    """Render the page the e-mail link opens: the code filled in and "Nästa"."""
    body = (
        _error_summary(texts, lang, errors)
        + texts.html("activation_page.start_intro", lang)
        + '<form method="post" action="activate">\n'
        + _hidden("csrf", csrf) + _hidden("lang", lang) + "\n"
        + _field(texts, lang, name="code", label_key="activation_page.code_label", input_type="text",
                 value=code, hint=texts.get("activation_page.code_hint", lang), errors=errors,
                 attrs=f'required maxlength="{CODE_MAX_LENGTH}" autocomplete="off" '
                       'autocapitalize="none" spellcheck="false"')
        + f'<button type="submit">{escape(texts.get("activation_page.next_button", lang))}</button>\n'
        + "</form>"
    )
    return Page("activation_page.start_title", body,
                query("activate", code=code, lang=other_language(lang)), len(errors))


def credentials_page(texts: Texts, lang: str, *, code: str, csrf: str, username: str,
                     errors: list[str]) -> Page:
    """Render the form for username, password and confirmation (passwords never echoed)."""
    body = (
        _error_summary(texts, lang, errors)
        + texts.html("activation_page.credentials_intro", lang)
        + '<form method="post" action="credentials">\n'
        + _hidden("csrf", csrf) + _hidden("code", code) + _hidden("lang", lang) + "\n"
        + _field(texts, lang, name="username", label_key="activation_page.username_label",
                 input_type="text", value=username,
                 hint=texts.get("activation_page.username_hint", lang, min=USERNAME_MIN,
                                max=USERNAME_MAX),
                 errors=errors,
                 attrs=f'required minlength="{USERNAME_MIN}" maxlength="{USERNAME_MAX}" '
                       'autocomplete="username" autocapitalize="none" spellcheck="false"')
        + _field(texts, lang, name="password", label_key="activation_page.password_label",
                 input_type="password",
                 hint=texts.get("activation_page.password_hint", lang, min=PASSWORD_MIN),
                 errors=errors, attrs=NEW_PASSWORD_ATTRS)
        + _field(texts, lang, name="password_confirm",
                 label_key="activation_page.password_confirm_label", input_type="password",
                 errors=errors, attrs=NEW_PASSWORD_ATTRS)
        + f'<button type="submit">{escape(texts.get("activation_page.create_button", lang))}</button>\n'
        + "</form>"
    )
    return Page("activation_page.credentials_title", body,
                query("activate", code=code, lang=other_language(lang)), len(errors))


def done_page(texts: Texts, lang: str) -> Page:
    """Render the success page: the credentials work only in the Skola24 app."""
    return Page("activation_page.done_title", texts.html("activation_page.done_text", lang),
                query("done", lang=other_language(lang)))


def invalid_page(texts: Texts, lang: str, *, hours: int) -> Page:
    """Render the page for an expired, used or unknown code, with how to get a new one."""
    body = (texts.html("activation_page.invalid_text", lang, hours=hours)
            + f'<p><a href="{SKOLA24_APP_URL}">'
              f'{escape(texts.get("activation_page.new_code_link", lang))}</a></p>')
    return Page("activation_page.invalid_title", body, query("invalid", lang=other_language(lang)))


def message_page(texts: Texts, lang: str, *, name: str, code: str = "") -> Page:
    """Render an error page (`forbidden`, `bad_request`, ...) with a way to start over."""
    body = (texts.html(f"activation_page.{name}_text", lang)
            + f'<p><a href="{escape(query("activate", code=code, lang=lang))}">'
              f'{escape(texts.get("activation_page.start_over_link", lang))}</a></p>')
    return Page(f"activation_page.{name}_title", body,
                query("activate", code=code, lang=other_language(lang)))
