"""Product representation. Validation here gives field-level 400s with the model's own rules and
messages (catalog/models.py), which the services apply again (full_clean()), so a write that
skips the API cannot break them either."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field

from catalog.models import (
    CURRENCY_RULE,
    MAX_PRICE,
    MAX_STOCK,
    NAME_MAX_LENGTH,
    SKU_MAX_LENGTH,
    SKU_RULE,
    Product,
)
from shop.inputs import (
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictIntegerField,
    StrictModelSerializer,
)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d{1,7}(?:\.\d{1,2})?$",
        "example": "14.00",
        "description": f"Amount with at most two decimals, 0 to {MAX_PRICE}; returned with exactly two.",
    }
)
class MoneyField(StrictDecimalField):
    """A non-negative amount of money; the auto-schema would allow a sign and any scale."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, min_value=0, max_value=MAX_PRICE, **kwargs)


class ProductSerializer(StrictModelSerializer):
    sku = StrictCharField(
        max_length=SKU_MAX_LENGTH,
        # No UniqueValidator: the service refuses a taken SKU (DuplicateSku), also when two
        # requests race for it, so both paths give the same 400.
        validators=[SKU_RULE],
    )
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    description = StrictCharField(max_length=5000, allow_blank=True, required=False)
    # Money is a string with two decimals on the wire, never a float.
    price = MoneyField()
    currency = StrictCharField(required=False, validators=[CURRENCY_RULE])
    stock = StrictIntegerField(min_value=0, max_value=MAX_STOCK, required=False)
    active = StrictBooleanField(required=False)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "price",
            "currency",
            "stock",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
