from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer as BaseTokenSerializer
from rest_framework_simplejwt.serializers import TokenVerifySerializer as BaseVerifySerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import UntypedToken

from shop.identity import services
from shop.inputs import StrictCharField, StrictEmailField, StrictModelSerializer

User = get_user_model()


class RegisterSerializer(StrictModelSerializer):
    # Strict: each field takes only a JSON string (DRF would register the username 12 as "12").
    password = StrictCharField(
        write_only=True, min_length=8, max_length=128, style={"input_type": "password"}
    )
    email = StrictEmailField(max_length=254)

    class Meta:
        model = User
        fields = ["id", "username", "email", "password"]
        read_only_fields = ["id"]
        # The model's own unique validator compares exactly; uniqueness here ignores case.
        extra_kwargs = {"username": {"validators": [UnicodeUsernameValidator()]}}

    def validate_username(self, value: str) -> str:
        if services.username_taken(value):
            raise serializers.ValidationError(services.USERNAME_TAKEN, code="unique")
        return services.normalize_username(value)

    def validate_email(self, value: str) -> str:
        if services.email_taken(value):
            raise serializers.ValidationError(services.EMAIL_TAKEN, code="unique")
        return services.normalize_email(value)

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs

    def create(self, validated_data):
        try:
            return services.register_user(**validated_data)
        except services.AccountTaken as exc:
            # Lost a race with an identical sign-up: the same 400 as coming second.
            raise serializers.ValidationError(
                {
                    field: [serializers.ErrorDetail(message, code="unique")]
                    for field, message in exc.errors.items()
                }
            )


class TokenObtainPairSerializer(BaseTokenSerializer):
    """simplejwt's, issuing tokens with the claims other services authorize with (they have no
    user table) and a refresh token that can be used once (services.issue_tokens)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Credentials are JSON strings, as all text here: simplejwt's fields take 12 as "12".
        self.fields[self.username_field] = StrictCharField(write_only=True)
        self.fields["password"] = StrictCharField(write_only=True, style={"input_type": "password"})

    @classmethod
    def get_token(cls, user):
        return services.issue_tokens(user)


class TokenRefreshSerializer(serializers.Serializer):
    """A refresh token in, a new pair out — built from the user as they are now, the given
    token blacklisted (services.rotate_refresh_token)."""

    refresh = StrictCharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs):
        try:
            refresh = services.rotate_refresh_token(attrs["refresh"])
        except TokenError as exc:
            raise InvalidToken(exc.args[0])
        except services.RefreshRefused as exc:
            raise exceptions.AuthenticationFailed(exc.detail, exc.code)
        return {"access": str(refresh.access_token), "refresh": str(refresh)}

    def to_representation(self, instance):
        return instance


class TokenVerifySerializer(BaseVerifySerializer):
    """simplejwt's check (signature, expiry, not blacklisted), and the rule every request follows
    (shop/identity/authentication.py): a token of a user who is gone or inactive is not valid."""

    token = StrictCharField(write_only=True)

    def validate(self, attrs):
        try:
            super().validate(attrs)
        except serializers.ValidationError as exc:  # simplejwt's word for a used refresh token
            raise InvalidToken(str(exc.detail[0]))
        token = UntypedToken(attrs["token"])
        user_id = token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is None:
            return {}
        rights = services.current_rights(user_id)
        if rights is None:
            raise exceptions.AuthenticationFailed(services.NO_ACTIVE_ACCOUNT, "no_active_account")
        if not services.issued_for_current_password(token, rights):
            raise exceptions.AuthenticationFailed(services.PASSWORD_CHANGED, "password_changed")
        return {}


class LogoutSerializer(serializers.Serializer):
    refresh = StrictCharField(write_only=True)

    def validate(self, attrs):
        try:
            services.revoke_refresh_token(attrs["refresh"])
        except TokenError as exc:
            raise InvalidToken(exc.args[0])
        return {}
