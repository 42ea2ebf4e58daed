"""Every write to people, sessions, roles, contacts, accounts and account memberships
(DESIGN.md rule 1), one module per entity; the package offers them all."""

from accounts.services.accounts import (  # noqa: F401
    ACCOUNT_FIELDS,
    DEFAULT_ACCOUNT_NAME,
    SITE_ADMIN_ACCOUNT_FIELDS,
    account_activate,
    account_create,
    account_delete,
    account_role_create,
    account_role_delete,
    account_role_update,
    account_update,
    activation_code_current,
    activation_code_refresh,
    default_account,
)
from accounts.services.contacts import (  # noqa: F401
    contact_create,
    contact_delete,
)
from accounts.services.invitations import (  # noqa: F401
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_revoke,
)
from accounts.services.memberships import (  # noqa: F401
    MemberRole,
    account_membership_create,
    account_membership_delete,
    account_membership_update,
    ensure_user_can_leave_everything,
)
from accounts.services.roles import (  # noqa: F401
    UnknownPermission,
    permissions_from_names,
    role_create,
    role_delete,
    role_update,
)
from accounts.services.sessions import (  # noqa: F401
    browser_session_end,
    browser_session_forget,
    browser_session_rekey,
    browser_session_start,
    session_create,
    session_delete,
    session_keep_alive,
    sign_out_everywhere,
)
from accounts.services.users import (  # noqa: F401
    ADMIN_ONLY_USER_FIELDS,
    AVATAR_FORMATS,
    AVATAR_MAX_PIXELS,
    avatar_delete,
    avatar_set,
    email_change_request,
    email_verification_token,
    email_verification_user_id,
    email_verify,
    send_verification_mail,
    user_create,
    user_delete,
    user_reset_password,
    user_signup,
    user_update,
)
