"""Where the embedded dev issuer's endpoints are, on the MCP server's own origin.

One module, so the routes, the metadata document, the consent page, CORS for browser-based
clients and the console's sign-in all name the same paths. (Its metadata is at the well-known
paths every authorization server answers on, `plughost.auth.upstream_metadata`'s.)
"""

AUTHORIZE_PATH = "/oauth/authorize"
CONSENT_PATH = "/oauth/consent"
TOKEN_PATH = "/oauth/token"
REGISTER_PATH = "/oauth/register"
REVOKE_PATH = "/oauth/revoke"
JWKS_PATH = "/oauth/jwks.json"
#: The endpoints a browser-based client calls from its own page (with CORS). The authorize
#: and consent endpoints are navigated to, never fetched, and stay same-origin only.
BROWSER_PATHS = (TOKEN_PATH, REGISTER_PATH, REVOKE_PATH, JWKS_PATH)
