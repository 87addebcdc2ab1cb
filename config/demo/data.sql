-- trailmask demo: deterministic synthetic guests. Every value is generated from the row number
-- with generate_series; nothing here describes a real person. National IDs have the
-- `A123456789` shape but a deliberately WRONG check digit, so none can be a real 身分證統一編號;
-- e-mail addresses are under example.com (RFC 2606); card numbers are not Luhn-valid.

CREATE FUNCTION pg_temp.fake_national_id(i int) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    letter_code int := 10 + (i % 8);                        -- A..H are 10..17
    digits text := ((i % 2) + 1)::text                      -- 1 male, 2 female
                   || lpad(((i * 7919) % 10000000)::text, 7, '0');
    weights int[] := ARRAY[8, 7, 6, 5, 4, 3, 2, 1];
    total int := (letter_code / 10) + (letter_code % 10) * 9;
    valid int;
BEGIN
    FOR k IN 1..8 LOOP
        total := total + substr(digits, k, 1)::int * weights[k];
    END LOOP;
    valid := (10 - total % 10) % 10;
    -- Any other digit fails the checksum: these IDs cannot belong to anyone.
    RETURN chr(ascii('A') + i % 8) || digits || ((valid + 1 + i % 9) % 10)::text;
END $$;

INSERT INTO public.rooms (id, number, floor, kind, rate_twd)
SELECT r,
       (2 + (r - 1) / 10)::text || lpad((1 + (r - 1) % 10)::text, 2, '0'),
       2 + (r - 1) / 10,
       (ARRAY['single', 'double', 'double', 'suite'])[1 + r % 4],
       (ARRAY[2800, 3600, 3900, 8800])[1 + r % 4]
FROM generate_series(1, 40) AS r;

INSERT INTO public.guests (id, name, phone, email, national_id, passport_no, birthday, address,
                           created_at)
SELECT i,
       (ARRAY['陳','林','黃','張','李','王','吳','劉','蔡','楊','許','鄭','謝','郭','洪'])[1 + i % 15]
         || (ARRAY['志明','淑芬','家豪','怡君','俊傑','雅婷','建宏','美玲','承恩','欣怡',
                   '宇軒','佳蓉','冠廷','詩涵','柏翰','小明','慧','偉'])[1 + (i * 7) % 18],
       '09' || lpad(((i * 37) % 100)::text, 2, '0') || '-'
         || lpad(((i * 7919) % 1000)::text, 3, '0') || '-'
         || lpad(((i * 104729) % 1000)::text, 3, '0'),
       'guest' || i || '@example.com',
       pg_temp.fake_national_id(i),
       CASE WHEN i % 5 = 0 THEN '3' || lpad(((i::bigint * 15485863) % 100000000)::text, 8, '0') END,
       date '1950-01-01' + (i * 3571) % 20000,
       (ARRAY['臺北市信義區松仁路', '臺北市大安區復興南路', '新北市板橋區文化路', '臺中市西屯區臺灣大道',
              '臺南市東區大學路', '高雄市苓雅區四維三路', '花蓮縣花蓮市中山路'])[1 + i % 7]
         || (1 + (i * 13) % 300)::text || '號',
       timestamptz '2024-01-01 00:00:00+08' + make_interval(hours => i * 29)
FROM generate_series(1, 300) AS i;

INSERT INTO public.bookings (id, guest_id, room_id, check_in, check_out, status)
SELECT b,
       1 + (b * 17) % 300,
       1 + (b * 11) % 40,
       date '2026-01-01' + (b * 3) % 330,
       date '2026-01-01' + (b * 3) % 330 + 1 + b % 4,
       (ARRAY['booked', 'checked_in', 'checked_out', 'checked_out', 'cancelled'])[1 + b % 5]
FROM generate_series(1, 600) AS b;

INSERT INTO public.payments (id, booking_id, amount_twd, card_number, card_holder, paid_at)
SELECT p,
       p,
       (ARRAY[2800, 3600, 3900, 8800])[1 + p % 4] * (1 + p % 4),
       '4000' || lpad(((p::bigint * 982451653) % 1000000000000)::text, 12, '0'),
       g.name,
       timestamptz '2026-01-01 12:00:00+08' + make_interval(days => (p * 3) % 330)
FROM generate_series(1, 500) AS p
JOIN public.bookings b ON b.id = p
JOIN public.guests g ON g.id = b.guest_id
WHERE b.status <> 'cancelled';

ANALYZE;
