from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny

from shop.identity.api.serializers import RegisterSerializer


@extend_schema(summary="Register a customer account", auth=[])
class RegisterView(generics.CreateAPIView):
    """Create a customer (never staff) account; then obtain a token at /api/auth/token/."""

    serializer_class = RegisterSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
