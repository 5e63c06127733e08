-- Password and second-factor guesses reserved but not yet checked. A guess takes a place here before it is
-- checked, and only while the account's confirmed failures plus the places taken stay below the next lock of
-- the schedule; a wrong guess then becomes a failure, a right one just gives its place back. So concurrent
-- wrong guesses get no more checks than the schedule allows, and concurrent right ones never count as
-- failures. A place whose request never finished (a dropped connection) lapses at `expires_at`.

create table pending_guesses (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    expires_at bigint not null,
    created_at bigint not null
);
create index pending_guesses_user on pending_guesses (user_id, expires_at);
