"""Single-column field types: texts, numbers, booleans, dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, DecimalException
from decimal import Context as DecimalContext
from typing import Any

import sqlalchemy as sa

from ..messages import N_, message
from . import encryption
from .base import FieldType, FieldValueError, check_mask
from .email_address import checked_email
from .numbers import exact_digits, parse_number

WIDE = DecimalContext(prec=120)
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# The words users meet, translated where shown (engine/messages.py).
EXPECTED_TEXT = N_("expected text")
TOO_LONG = N_("at most %(limit)s characters (got %(length)s)")
TOO_SHORT = N_("at least %(limit)s characters")
BAD_FORMAT = N_("does not have the expected format")
NOT_A_URL = N_("'%(value)s' is not a web address (http:// or https://)")
AT_LEAST = N_("must be at least %(bound)s")
AT_MOST = N_("must be at most %(bound)s")
TOO_LARGE = N_("number too large")
TOO_MANY_WHOLE_DIGITS = N_("number too large (at most %(digits)s digits before the point)")
TOO_MANY_PLACES = N_("'%(value)s' has too many digits after the decimal mark (at most %(scale)s)")
WHOLE_HERE = N_("'%(value)s' must be a whole number here")
INEXACT = N_("too many digits to store exactly: at most %(limit)s significant digits in this database")
NOT_YES_NO = N_("'%(value)s' is not yes or no")
NOT_A_DATE = N_("'%(value)s' is not a date (YYYY-MM-DD)")
NOT_A_MOMENT = N_("'%(value)s' is not a date and time (YYYY-MM-DD HH:MM)")


def is_encrypted(field) -> bool:
    """Whether a field's values are stored encrypted (`encrypted: true`)."""
    return bool(field is not None and field.spec.get("encrypted")) and field.type.name in encryption.ENCRYPTABLE_TYPES




class StringType(FieldType):
    """Text on one line; the base of text, e-mail and phone fields, which may all be stored
    encrypted (`encrypted: true`, see engine/fields/encryption.py) and masked per role
    (`mask:`, see engine/records/masking.py)."""

    name = "string"
    value_type = "string"
    options = frozenset({"max_length", "min_length", "pattern", "encrypted", "decrypt", "mask"})
    default_length = 255
    description = "One line of text (VARCHAR)."

    def sql_type(self, field):
        return sa.String(field.max_length or self.default_length)

    # -- encryption: ciphertext in NAME, the keyed hash of the normalised value in NAME_hash
    def columns(self, field):
        if not is_encrypted(field):
            columns = super().columns(field)
            if field.spec.get("decrypt") and columns:  # the decision a migration needs to decrypt
                columns[0].info["decrypt"] = True
            return columns
        old = field.renamed_from
        return [
            sa.Column(field.name, sa.Text(), nullable=True,
                      info={"field": field.name, "renamed_from": old, "encrypted": field}),
            sa.Column(field.name + encryption.HASH_SUFFIX, sa.String(64), nullable=True,
                      info={"field": field.name, "renamed_from": f"{old}{encryption.HASH_SUFFIX}" if old else None}),
        ]

    def exact_key(self, value: str) -> str:
        """The value as exact searches of an encrypted field compare it (hashed)."""
        return encryption.normalised_text(value)

    def to_row(self, value, field):
        if not is_encrypted(field):
            return super().to_row(value, field)
        if value is None:
            return {field.name: None, field.name + encryption.HASH_SUFFIX: None}
        keys = encryption.keyring()
        return {field.name: keys.seal(value), field.name + encryption.HASH_SUFFIX: keys.digest(self.exact_key(value))}

    def from_row(self, row, field):
        value = row.get(field.name)
        if value is None or not is_encrypted(field):
            return value
        return encryption.keyring().open(value)

    def reads_as_stored(self, field):
        """Only an encrypted value is opened on the way out (a subclass reading its own way
        is not read as stored)."""
        return type(self).from_row is StringType.from_row and not is_encrypted(field)

    def writes_as_is(self, field):
        """Only an encrypted value is sealed on the way in (with its hash)."""
        return type(self).to_row is StringType.to_row and not is_encrypted(field)

    def search_texts(self, record, field):
        if is_encrypted(field):  # the search key is clear text: an encrypted field is found by its hash
            return []
        return super().search_texts(record, field)

    def check_spec(self, spec, report) -> None:
        if spec.get("encrypted"):
            if self.name not in encryption.ENCRYPTABLE_TYPES:
                report("E407", f"a {self.name} field cannot be encrypted (only "
                       f"{', '.join(encryption.ENCRYPTABLE_TYPES)} fields can)", "encrypted")
            if spec.get("unique"):
                report("E407", "an encrypted field cannot be unique (each value is sealed differently)", "unique")
            if spec.get("decrypt"):
                report("E407", "'decrypt' applies to a field no longer encrypted", "decrypt",
                       "remove 'decrypt', or set 'encrypted: false'")
            if self.name in encryption.ENCRYPTABLE_TYPES:
                try:  # starting without a usable key is a clear error, before anything runs
                    encryption.keyring()
                except encryption.EncryptionKeyError as exc:
                    report(encryption.ERROR_CODE, exc.args[0], "encrypted",
                           f"keys come from the environment ({encryption.KEY_ENV} or {encryption.KEY_FILE_ENV}), "
                           "see docs/security.md")
        check_mask(spec, report)

    def coerce(self, value: Any, field) -> Any:
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise FieldValueError(message(EXPECTED_TEXT))
        text = str(value).strip()
        return text or None

    def validate(self, value, field):
        errors = []
        limit = field.max_length or (self.default_length if self.storage == "column" and self.default_length else None)
        if limit and len(value) > limit:
            errors.append(message(TOO_LONG, limit=limit, length=len(value)))
        if field.min_length and len(value) < field.min_length:
            errors.append(message(TOO_SHORT, limit=field.min_length))
        if field.pattern and not field.pattern.fullmatch(value):
            errors.append(message(BAD_FORMAT))
        return errors


class TextType(StringType):
    name = "text"
    default_length = 0
    sortable = False
    can_be_unique = False
    description = "Long text, several lines (TEXT)."

    def sql_type(self, field):
        return sa.Text()

    def coerce(self, value, field):
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise FieldValueError(message(EXPECTED_TEXT))
        text = str(value).replace("\r\n", "\n").strip()
        return text or None


class EmailType(StringType):
    name = "email"
    default_length = 254
    description = "An e-mail address, checked and stored in lower case."

    def coerce(self, value, field):
        value = super().coerce(value, field)
        if value is None:
            return None
        return checked_email(value)  # email-validator, without DNS: not `x@y.co<script>`

    def exact_key(self, value: str) -> str:
        return value.strip().lower()


class UrlType(StringType):
    name = "url"
    default_length = 2048
    description = "A web address starting with http:// or https://."

    def coerce(self, value, field):
        value = super().coerce(value, field)
        if value is None:
            return None
        if not URL_RE.match(value):
            raise FieldValueError(message(NOT_A_URL, value=value))
        return value


def range_errors(value, field, shown=str) -> list[str]:
    """`min` and `max` of an ordered value, each bound written by `shown` in the message."""
    errors = []
    if field.min is not None and value < field.min:
        errors.append(message(AT_LEAST, bound=shown(field.min)))
    if field.max is not None and value > field.max:
        errors.append(message(AT_MOST, bound=shown(field.max)))
    return errors


class RangedType(FieldType):
    """A type whose values are ordered: `min` and `max` apply."""

    options = frozenset({"min", "max"})

    def validate(self, value, field):
        return range_errors(value, field)


class IntegerType(RangedType):
    name = "integer"
    value_type = "number"
    description = "A whole number (BIGINT)."

    def sql_type(self, field):
        return sa.BigInteger()

    def coerce(self, value, field):
        number = parse_number(value, whole=True)
        if number is not None and abs(number) >= 2**63:
            raise FieldValueError(message(TOO_LARGE))
        return number


class DecimalType(RangedType):
    name = "decimal"
    value_type = "number"
    options = frozenset({"min", "max", "precision", "scale"})
    default_precision = 18
    default_scale = 4
    description = "An exact decimal number (NUMERIC(precision, scale))."

    def scale(self, field) -> int:
        return field.scale if field.scale is not None else self.default_scale

    def precision(self, field) -> int:
        return field.precision or self.default_precision

    def sql_type(self, field):
        return sa.Numeric(self.precision(field), self.scale(field), asdecimal=True)

    def coerce(self, value, field):
        number = parse_number(value, percent=self.name == "percent")
        if number is None:
            return None
        scale = self.scale(field)
        whole_digits = self.precision(field) - scale
        if number and number.adjusted() >= whole_digits:
            raise FieldValueError(message(TOO_MANY_WHOLE_DIGITS, digits=whole_digits))
        try:  # with room for every digit NUMERIC(38) holds (the default context keeps 28)
            rounded = number.quantize(_quantum(scale), rounding=ROUND_HALF_UP, context=WIDE)
        except DecimalException:
            raise FieldValueError(message(TOO_LARGE)) from None
        if isinstance(value, str) and rounded != number:
            # typed by a person (a form, an import): a digit we would drop is a mistake to show;
            # numbers from code (expressions, rollups, floats) are rounded half-up to the scale
            raise FieldValueError(message(TOO_MANY_PLACES, value=value.strip()[:40], scale=scale) if scale else
                                  message(WHOLE_HERE, value=value.strip()[:40]))
        limit = exact_digits()
        if limit is not None and rounded and len(rounded.as_tuple().digits) > limit \
                and len(rounded.normalize(WIDE).as_tuple().digits) > limit:  # (normalize drops trailing zeros only)
            raise FieldValueError(message(INEXACT, limit=limit))
        return rounded


_QUANTA: dict[int, Decimal] = {}  # scale -> 1E-scale, the quantum a value is rounded to


def _quantum(scale: int) -> Decimal:
    quantum = _QUANTA.get(scale)
    if quantum is None:
        quantum = _QUANTA[scale] = Decimal(1).scaleb(-scale)
    return quantum


class PercentType(DecimalType):
    name = "percent"
    options = frozenset({"min", "max", "scale"})
    default_precision = 9
    default_scale = 2
    description = "A percentage: 12.5 means 12.5 %."


class BooleanType(FieldType):
    name = "boolean"
    value_type = "boolean"
    can_be_unique = False
    description = "Yes or no."
    TRUE = {"1", "true", "yes", "on", "y", "t", "是"}
    FALSE = {"0", "false", "no", "off", "n", "f", "否"}

    def sql_type(self, field):
        return sa.Boolean()

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise FieldValueError(message(NOT_YES_NO, value=value))

    def is_empty(self, value):
        return value is None


class DateType(RangedType):
    name = "date"
    value_type = "date"
    description = "A calendar date (YYYY-MM-DD)."

    def sql_type(self, field):
        return sa.Date()

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise FieldValueError(message(NOT_A_DATE, value=value)) from None


class DateTimeType(RangedType):
    name = "datetime"
    value_type = "datetime"
    description = "A moment in time, stored in UTC."

    def sql_type(self, field):
        return sa.DateTime(timezone=True)

    def coerce(self, value, field):
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        else:
            try:
                moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            except ValueError:
                raise FieldValueError(message(NOT_A_MOMENT, value=value)) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def from_row(self, row, field):
        value = row.get(field.name)
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
