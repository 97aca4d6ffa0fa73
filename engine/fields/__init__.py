"""Field types. The built-in ones are registered through the `tailor_field_types` hook."""

from .address import AddressType
from .base import COMMON_OPTIONS, FieldType, FieldValueError
from .choice import ChoiceType, MultiChoiceType, TagsType
from .contact_lists import EmailsType, PhonesType
from .duration import DurationType
from .moments import DateOrDateTimeType
from .person_name import PersonNameType
from .phone import PhoneType
from .relation import LinesType, LinksType, LinkType, PolymorphicLinkType, UserType
from .rollup import RollupType
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
    EmailType(), PhoneType(), UrlType(), LinkType(), PolymorphicLinkType(), LinksType(), LinesType(), UserType(),
    ComputedType(), AutonumberType(), RollupType(), DurationType(), DateOrDateTimeType(), PersonNameType(),
    AddressType(), EmailsType(), PhonesType(),
]

__all__ = ["BUILTIN_FIELD_TYPES", "COMMON_OPTIONS", "FieldType", "FieldValueError"]
