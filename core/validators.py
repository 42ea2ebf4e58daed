"""Validators every app's models share."""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible


@deconstructible
class SingleLineValidator:
    """Refuse control characters and line breaks in a name: it is shown in page titles and
    mail subjects, where a line break is a header of its own."""

    message = "Use one line of text, without control characters."
    code = "invalid"

    def __call__(self, value):
        if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in str(value)):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other):
        return isinstance(other, SingleLineValidator)


single_line = SingleLineValidator()
