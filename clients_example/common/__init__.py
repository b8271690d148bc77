"""Code the three example apps share (still only Flask, authlib and standard OIDC)."""
