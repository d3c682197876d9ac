"""RS256 key pairs for tokens. Production keys come from the environment; dev makes one."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_pem_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a new 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def check_pair(private_pem: str, public_pem: str) -> None:
    """Raise ValueError unless `public_pem` is an RSA public key of at least 2048 bits and, when
    `private_pem` is given, the public half of that private key (a mismatch would sign tokens no
    service accepts)."""
    try:
        public = serialization.load_pem_public_key(public_pem.encode())
    except ValueError as exc:
        raise ValueError(f"JWT_PUBLIC_KEY is not a PEM public key ({exc})") from None
    if not isinstance(public, rsa.RSAPublicKey) or public.key_size < 2048:
        raise ValueError("JWT_PUBLIC_KEY must be an RSA key of at least 2048 bits (tokens are RS256)")
    if not private_pem:
        return
    try:
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"JWT_PRIVATE_KEY is not an unencrypted PEM private key ({exc})") from None
    if (
        not isinstance(private, rsa.RSAPrivateKey)
        or private.public_key().public_numbers() != public.public_numbers()
    ):
        raise ValueError("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY are not one key pair: tokens would not verify")
