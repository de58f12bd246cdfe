from django import template

register = template.Library()


@register.filter
def minutes_as_duration(minutes) -> str:
    """720 -> "12 h", 90 -> "1 h 30 min", 2880 -> "2 days"."""
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        return ""
    if minutes == 0:
        return "0"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days != 1 else ''}"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")
