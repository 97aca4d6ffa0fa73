"""Field types. The built-in ones are registered through the `tailor_field_types` hook."""

from .base import COMMON_OPTIONS, FieldType, FieldValueError
from .choice import ChoiceType, MultiChoiceType, TagsType
from .phone import PhoneType
from .relation import LinesType, LinksType, LinkType, UserType
from .scalar import (
    BooleanType,
    DateTimeType,
    DateType,
    DecimalType,
    EmailType,
    IntegerType,
    PercentType,
    StringType,
    TextType,
    UrlType,
)
from .special import AutonumberType, ComputedType, MoneyType

BUILTIN_FIELD_TYPES: list[FieldType] = [
    StringType(), TextType(), IntegerType(), DecimalType(), MoneyType(), PercentType(),
    BooleanType(), DateType(), DateTimeType(), ChoiceType(), MultiChoiceType(), TagsType(),
    EmailType(), PhoneType(), UrlType(), LinkType(), LinksType(), LinesType(), UserType(),
    ComputedType(), AutonumberType(),
]

__all__ = ["BUILTIN_FIELD_TYPES", "COMMON_OPTIONS", "FieldType", "FieldValueError"]
