-- trailmask demo: a small hotel booking database. Loaded by `trailmask demo` into database
-- `hotel` of a throwaway cluster; the personal columns are declared in config/demo/demo.toml.

CREATE TABLE public.rooms (
    id        int  PRIMARY KEY,
    number    text NOT NULL UNIQUE,
    floor     int  NOT NULL,
    kind      text NOT NULL,          -- single | double | suite
    rate_twd  int  NOT NULL           -- nightly rate, NT$
);

CREATE TABLE public.guests (
    id           bigint PRIMARY KEY,
    name         text   NOT NULL,     -- personal: name_zh
    phone        text,                -- personal: phone_tw
    email        text,                -- personal: email
    national_id  text,                -- personal: national_id_tw
    passport_no  text,                -- personal: keep_last(3)
    birthday     date,                -- personal: year_only
    address      text,                -- personal: redact
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.bookings (
    id         bigint PRIMARY KEY,
    guest_id   bigint NOT NULL REFERENCES public.guests (id),
    room_id    int    NOT NULL REFERENCES public.rooms (id),
    check_in   date   NOT NULL,
    check_out  date   NOT NULL,
    status     text   NOT NULL,       -- booked | checked_in | checked_out | cancelled
    CHECK (check_out > check_in)
);

CREATE TABLE public.payments (
    id           bigint PRIMARY KEY,
    booking_id   bigint NOT NULL REFERENCES public.bookings (id),
    amount_twd   int    NOT NULL,
    card_number  text,                -- personal: card_last4 (front_desk: deny)
    card_holder  text,                -- personal: name_zh
    paid_at      timestamptz NOT NULL
);

CREATE INDEX bookings_guest ON public.bookings (guest_id);
CREATE INDEX payments_booking ON public.payments (booking_id);

-- What the front desk screen shows; its columns come from guests, so they are masked the same way.
CREATE VIEW public.guest_contacts AS
    SELECT g.id, g.name, g.phone, g.email
    FROM public.guests g;

-- A non-personal report any role may read in clear.
CREATE VIEW public.occupancy AS
    SELECT r.number, r.kind, count(b.id) AS bookings
    FROM public.rooms r
    LEFT JOIN public.bookings b ON b.room_id = r.id AND b.status <> 'cancelled'
    GROUP BY r.number, r.kind;
