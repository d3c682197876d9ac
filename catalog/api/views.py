"""The product API: anyone may browse active products; staff manage them.

Views only parse, authorize, call a service and serialize; rules live in catalog/services.py.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from catalog import selectors, services
from catalog.api.filters import ProductFilter
from catalog.api.serializers import ProductSerializer
from shop.api import IsStaff
from shop.inputs import ID_PATH_PATTERN, MONEY_PATTERN

# The auto-schema renders django-filter's typed choices as "boolean with a string enum" and the
# price bounds without their minimum; say what is accepted.
_LIST_PARAMETERS = [
    OpenApiParameter(name, str, enum=["true", "false"], description=description)
    for name, description in [
        ("in_stock", "true: only products with stock; false: only sold-out ones."),
        ("active", "Staff: filter by the active flag (others only ever see active products)."),
    ]
] + [
    # An amount as the money columns hold it (shop.inputs.MoneyFilter): the API's money format.
    OpenApiParameter(name, {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN}, description=d)
    for name, d in [
        ("min_price", "Lowest price, inclusive (at most max_price), e.g. 9.90."),
        ("max_price", "Highest price, inclusive."),
    ]
]


def _is_staff(request) -> bool:
    return bool(getattr(request.user, "is_staff", False))


@extend_schema_view(
    list=extend_schema(
        summary="List products",
        description="Public. Customers and anonymous callers see active products only; staff see all.",
        parameters=_LIST_PARAMETERS,
    ),
    retrieve=extend_schema(
        summary="Get a product",
        description="Public. An inactive product is 404 except for staff.",
    ),
    create=extend_schema(summary="Add a product (staff)", description="Publishes product_created."),
    update=extend_schema(
        summary="Replace a product (staff)",
        description="Publishes product_updated, and price_changed if the price changed.",
    ),
    partial_update=extend_schema(
        summary="Change some fields of a product (staff)",
        description="Publishes product_updated, and price_changed if the price changed.",
    ),
    destroy=extend_schema(
        summary="Deactivate a product (staff)",
        description="Takes the product off sale (it is kept, since orders refer to it); publishes "
        "product_updated with active=false.",
        responses={204: OpenApiResponse(description="Deactivated (or already inactive).")},
    ),
)
class ProductViewSet(viewsets.ModelViewSet):
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    lookup_value_regex = ID_PATH_PATTERN

    def get_permissions(self):
        # Reading is public; the token is still parsed, so staff browsing see inactive products.
        if self.action in ("list", "retrieve"):
            return [AllowAny()]
        return [IsStaff()]

    def get_queryset(self):
        return selectors.list_products(include_inactive=_is_staff(self.request))

    def perform_create(self, serializer):
        serializer.instance = _call(services.create_product, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = _call(
            services.update_product, product_id=serializer.instance.pk, **serializer.validated_data
        )

    def destroy(self, request, *args, **kwargs):
        product = self.get_object()
        _call(services.deactivate_product, product_id=product.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _call(command, **kwargs):
    """Run a service command, turning its domain errors into API errors."""
    try:
        return command(**kwargs)
    except services.InvalidProduct as exc:
        raise ValidationError({name: [message] for name, message in exc.errors.items()})
    except services.ProductNotFound:
        raise NotFound("No product with this id.")
