"""Template helpers of the portal: messages shown in the section they are about."""

from django import template
from django.contrib.messages import get_messages

from core.portal import message_section

register = template.Library()

_GROUPS = "_portal_message_groups"


def _groups(request) -> dict:
    """The request's messages by section, read (and so consumed) once."""
    if not hasattr(request, _GROUPS):
        groups = {}
        for message in get_messages(request):
            groups.setdefault(message_section(message), []).append(message)
        setattr(request, _GROUPS, groups)
    return getattr(request, _GROUPS)


@register.simple_tag(takes_context=True)
def section_messages(context, section=""):
    """The messages about `section` ("" for the page's top), each shown once."""
    request = context.get("request")
    if request is None:
        return []
    return _groups(request).pop(section, [])


@register.simple_tag(takes_context=True)
def leftover_messages(context):
    """Messages about a section this page did not show (shown at its end rather than lost)."""
    request = context.get("request")
    if request is None:
        return []
    groups = _groups(request)
    left = [message for section in list(groups) for message in groups.pop(section)]
    return left


@register.simple_tag
def readable_entries(entries):
    """Audit entries as people read them (`change_rows`: field labels, related objects by
    name; `actor_name`), for the admin's history pages. One query per related model."""
    from portal.history import readable

    return readable(list(entries))
