-- DPoP (RFC 9449). A client may require DPoP-bound tokens (`dpop_bound_access_tokens`, RFC 9449 §5.2: its
-- token requests without a proof are refused). A public client's refresh token is bound to the key of the
-- proof it was issued with (`dpop_jkt`, the key's RFC 7638 thumbprint): only that key can use it.

alter table oidc_clients add column dpop_bound_access_tokens boolean not null default false;
alter table oidc_refresh_tokens add column dpop_jkt text;
-- RFC 9449 §10: an authorization request's `dpop_jkt` binds its code to that key.
alter table oidc_codes add column dpop_jkt text;
