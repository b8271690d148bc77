"""Example relying apps of ThaiNguyen ID: public-service portal, health records, market.

They are templates for relying-app developers: Flask + authlib's Flask OAuth client and
standard OpenID Connect only, nothing imported from ``idp``.
"""
