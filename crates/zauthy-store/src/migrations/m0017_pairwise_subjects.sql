-- Pairwise subject identifiers (OpenID Connect Core 1.0 §8.1): a client may see each user under a `sub`
-- derived for its sector (the host of its redirect URIs), fixed when it becomes pairwise.

alter table oidc_clients add column subject_type text not null default 'public';
alter table oidc_clients add column sector_identifier text;
