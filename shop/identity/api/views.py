from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from shop.identity import throttles
from shop.identity.api.serializers import LogoutSerializer, RegisterSerializer


@extend_schema(summary="Register a customer account", auth=[])
class RegisterView(generics.CreateAPIView):
    """Create a customer (never staff) account; then obtain a token at /api/auth/token/.
    Usernames and email addresses are unique ignoring case."""

    serializer_class = RegisterSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = throttles.REGISTER


@extend_schema(summary="Obtain an access and a refresh token", auth=[])
class TokenObtainPairView(jwt_views.TokenObtainPairView):
    throttle_classes = throttles.TOKEN


@extend_schema(
    summary="Exchange a refresh token for a new pair",
    description="The refresh token is good for one exchange: it is blacklisted as the new pair is "
    "issued. The new tokens carry the user's current rights; an inactive user, or one whose "
    "password changed, gets a 401.",
    auth=[],
)
class TokenRefreshView(jwt_views.TokenRefreshView):
    throttle_classes = throttles.REFRESH


@extend_schema(summary="Verify a token", auth=[])
class TokenVerifyView(jwt_views.TokenVerifyView):
    throttle_classes = throttles.VERIFY


@extend_schema(
    summary="Log out: revoke a refresh token",
    description="The refresh token can no longer be used. Access tokens already issued stay valid "
    "until they expire (15 minutes): every service verifies them on its own.",
    auth=[],
    responses={204: OpenApiResponse(description="Revoked.")},
)
class LogoutView(jwt_views.TokenViewBase):
    serializer_class = LogoutSerializer
    throttle_classes = throttles.LOGOUT

    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)  # validates: revokes, or 401 for a dead token
        return Response(status=status.HTTP_204_NO_CONTENT)
