from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer as BaseTokenSerializer

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

    def validate_email(self, value: str) -> str:
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("An account with this email already exists.")
        return value.lower()

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs

    def create(self, validated_data):
        return User.objects.create_user(**validated_data)


class TokenObtainPairSerializer(BaseTokenSerializer):
    """Adds the claims other services authorize with, since they have no user table."""

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["username"] = user.username
        token["is_staff"] = user.is_staff
        return token
