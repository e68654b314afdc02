"""HTML of the OAuth login-and-allow page and of authorization errors."""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f3f3f3;margin:0}
main{max-width:380px;margin:8vh auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
.error{color:#c23934;margin:.5rem 0}.buttons{margin-top:1.2rem;display:flex;gap:.5rem}
button{padding:.5rem 1rem}.hint{color:#666;font-size:.85rem}
"""


def login_page(*, app_name: str, scopes: str, hidden: dict[str, str], error: str = "",
               username: str = "") -> str:
    """The login form that also asks to allow `app_name` access (one step for local use)."""
    fields = "\n".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in hidden.items())
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in | sfbulk devorg</title>
<style>{_STYLE}</style></head>
<body><main>
<h1>Log in to the devorg</h1>
<p><strong>{escape(app_name)}</strong> is asking to access your data
(<code>{escape(scopes)}</code>).</p>
{message}
<form method="post" action="/services/oauth2/authorize">
{fields}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{escape(username)}"
 autocomplete="username" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
<div class="buttons">
<button type="submit" name="action" value="allow">Log in and allow</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button>
</div>
</form>
<p class="hint">Default user: admin@devorg.local / devorg</p>
</main></body></html>"""


def error_page(error: str, description: str) -> str:
    """An authorization error that must not be redirected (bad client or redirect URI)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error | sfbulk devorg</title>
<style>{_STYLE}</style></head>
<body><main><h1>Authorization error</h1>
<p class="error">error={escape(error)}</p><p>{escape(description)}</p></main></body></html>"""
