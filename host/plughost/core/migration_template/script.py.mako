<%
    code = (upgrades or "") + (downgrades or "")
    third_party = [
        line
        for needed, line in (("sa.", "import sqlalchemy as sa"), ("op.", "from alembic import op"))
        if needed in code
    ]
    first_party = ["import plughost"] if "plughost." in code else []
    blocks = "".join("\n" + "\n".join(block) + "\n" for block in (third_party, first_party) if block)
%>"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}; written ${create_date}.
"""

from __future__ import annotations
${blocks}
revision = "${up_revision}"
down_revision = ${'"%s"' % down_revision if down_revision else "None"}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
