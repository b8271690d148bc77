"""Realistic synthetic citizens of Thái Nguyên, as CSV rows for ``tnid citizens import``.

    .venv/bin/python bench/generate_citizens.py --rows 1300000 --out /tmp/citizens.csv
    .venv/bin/python bench/generate_citizens.py --rows 1000 --bad-rows 20 --seed 7 > small.csv

Columns: cccd, full_name, birthdate, gender, phone, email, commune_code.

* Names: Vietnamese surnames with their real frequencies (Nguyễn ~38 %, Trần ~11 %, ...) plus the
  surnames of Thái Nguyên's Tày, Nùng, Dao and San Chay people (Hà, Lường, Nông, Triệu, Ma,
  Lục...); middle names by gender (Văn/Đức/... for men, Thị/Ngọc/... for women); given names.
* CCCD numbers consistent with the birthdate and gender (4th digit = century and gender, 5th-6th =
  year of birth), province code 019 (Thái Nguyên) for most, a few born elsewhere; unique.
* Unique Vietnamese mobile numbers (prefixes libphonenumber accepts as VN mobile), written in
  the formats people use: mostly 0912345678, some +84912345678 and 0912 345 678.
* About 40 % of e-mails blank; commune codes from the 92 communes and wards of the province.

Deterministic for a given --seed; streaming (constant memory); ~1.3 M rows in ~15 s.
``--bad-rows N`` mixes in N rows that an importer must refuse (each kind once in turn);
``BAD_KINDS`` says which column each kind breaks, for tests.

Other benchmarks can import it: ``rows(n, seed=...)`` yields tuples in the column order.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import unicodedata
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from idp.services.identifiers import communes_of_province, fold_name  # noqa: E402

COLUMNS = ("cccd", "full_name", "birthdate", "gender", "phone", "email", "commune_code")
Row = tuple[str, str, str, str, str, str, str]

# Surname shares (per cent) of the Kinh majority, then Thái Nguyên's minority surnames.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 4.0),
    ("Huỳnh", 1.0), ("Phan", 4.5), ("Vũ", 3.0), ("Võ", 1.0), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.8),
    ("Đào", 0.7), ("Trịnh", 0.5), ("Lương", 0.5), ("Mai", 0.3), ("Tạ", 0.3), ("Vương", 0.2),
    ("Kiều", 0.2), ("Quách", 0.1), ("Lâm", 0.2),
    # Tày, Nùng, Dao, San Chay, H'Mông families of the northern midlands.
    ("Hà", 1.6), ("Lường", 0.4), ("Nông", 1.2), ("Triệu", 0.9), ("Ma", 0.8), ("Lục", 0.4),
    ("Hoàng", 0.8), ("Lăng", 0.2), ("Dương", 0.4), ("Bế", 0.3), ("Âu", 0.1), ("Lèo", 0.1),
    ("Chu", 0.3), ("Giàng", 0.1), ("Sầm", 0.1),
)
MIDDLE_MALE = (("Văn", 45), ("Đức", 10), ("Minh", 9), ("Quang", 7), ("Hữu", 6), ("Xuân", 4),
               ("Công", 4), ("Thành", 3), ("Mạnh", 3), ("Tuấn", 2), ("Trọng", 3), ("Ngọc", 2),
               ("Đình", 2))
MIDDLE_FEMALE = (("Thị", 55), ("Ngọc", 9), ("Thu", 6), ("Thanh", 5), ("Minh", 4),
                 ("Phương", 4), ("Thùy", 4), ("Hồng", 4), ("Kim", 3), ("Bích", 2), ("Mai", 2),
                 ("Diệu", 2))
GIVEN_MALE = ("An", "Anh", "Bảo", "Bình", "Cường", "Dũng", "Đạt", "Đông", "Đức", "Dương",
              "Giang", "Hải", "Hiếu", "Hòa", "Hoàng", "Hùng", "Huy", "Khánh", "Khoa", "Kiên",
              "Lâm", "Long", "Lực", "Mạnh", "Minh", "Nam", "Nghĩa", "Ngọc", "Nhân", "Phong",
              "Phúc", "Quân", "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung",
              "Tú", "Tuấn", "Tùng", "Việt", "Vinh", "Vũ", "Lộc", "Chiến", "Thái", "Hưng")
GIVEN_FEMALE = ("An", "Anh", "Ánh", "Bích", "Châu", "Chi", "Dung", "Duyên", "Giang", "Hà",
                "Hạnh", "Hằng", "Hiền", "Hoa", "Hồng", "Huệ", "Hương", "Huyền", "Lan", "Liên",
                "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương",
                "Quỳnh", "Sen", "Tâm", "Thảo", "Thơm", "Thủy", "Trang", "Trinh", "Tuyết", "Uyên",
                "Vân", "Xuân", "Yến", "Lụa", "Nhàn", "Hậu", "Thắm", "Mến", "Lý", "Diệp")

# CCCD province code of the place of birth registration: mostly Thái Nguyên (019) and the
# former Bắc Kạn (006), merged into it in 2025; a few from neighbours and the big cities.
CCCD_PROVINCES = (("019", 80), ("006", 8), ("001", 3), ("020", 2), ("024", 2), ("008", 1),
                  ("010", 1), ("022", 1), ("079", 1), ("025", 1))

# Two-digit prefixes after the leading 0 that libphonenumber classifies as VN mobile for
# every subscriber number (checked by tests/unit/services/test_citizen_import.py).
MOBILE_PREFIXES = ("32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70", "76",
                   "77", "78", "79", "81", "82", "83", "84", "85", "86", "88", "90", "91", "92",
                   "93", "94", "96", "97", "98")
_SUBSCRIBERS = 10_000_000
_SERIALS = 1_000_000
MAIL_DOMAINS = (("gmail.com", 80), ("yahoo.com", 8), ("outlook.com", 4), ("hotmail.com", 3),
                ("thainguyen.gov.vn", 2), ("vnpt.vn", 2), ("fpt.vn", 1))

# Which column each injected bad row breaks (the importer's error report names it).
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("cccd_length", "cccd"), ("cccd_province", "cccd"), ("year_mismatch", "birthdate"),
    ("gender_mismatch", "gender"), ("bad_date", "birthdate"), ("landline", "phone"),
    ("phone_letters", "phone"), ("bad_email", "email"), ("unknown_commune", "commune_code"),
    ("other_province", "commune_code"), ("name_digits", "full_name"), ("empty_name", "full_name"),
    ("duplicate_cccd", "cccd"),
)


def _cumulative(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    total, cum = 0.0, []
    for _, weight in pairs:
        total += weight
        cum.append(total)
    return [p[0] for p in pairs], cum


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    # modulus is 2^a * 5^b (times 31 for phones): odd, not a multiple of 5 or 31 -> bijection.
    while True:
        m = rng.randrange(modulus // 3, modulus)
        if m % 2 and m % 5 and m % 31:
            return m


def rows(n: int, *, seed: int = 2025, today: date | None = None) -> Iterator[Row]:
    """``n`` valid rows, deterministic for ``seed``. CCCD and phone numbers are unique."""
    rng = random.Random(seed)
    today = today or date.today()
    surnames, surname_cum = _cumulative(SURNAMES)
    mid_m, mid_m_cum = _cumulative(MIDDLE_MALE)
    mid_f, mid_f_cum = _cumulative(MIDDLE_FEMALE)
    provinces, province_cum = _cumulative(CCCD_PROVINCES)
    domains, domain_cum = _cumulative(MAIL_DOMAINS)
    communes = [code for code, _ in communes_of_province()]
    # Unique phones: an affine bijection of the row index over every prefix's subscribers.
    phone_space = len(MOBILE_PREFIXES) * _SUBSCRIBERS
    if n > phone_space:
        raise ValueError("too many rows for unique phone numbers")
    phone_mul, phone_add = _coprime_multiplier(rng, phone_space), rng.randrange(phone_space)
    # Unique CCCDs: within each 6-digit prefix (province, century+gender, year) a counter,
    # spread over the 6-digit serial by a bijection so that the numbers look random.
    serial_mul, serial_add = _coprime_multiplier(rng, _SERIALS), rng.randrange(_SERIALS)
    counters: dict[str, int] = {}
    random_ = rng.random
    choices = rng.choices
    choice = rng.choice
    randrange = rng.randrange
    triangular = rng.triangular
    for i in range(n):
        male = random_() < 0.495
        surname = choices(surnames, cum_weights=surname_cum)[0]
        if male:
            middle = choices(mid_m, cum_weights=mid_m_cum)[0]
            given = choice(GIVEN_MALE)
        else:
            middle = choices(mid_f, cum_weights=mid_f_cum)[0]
            given = choice(GIVEN_FEMALE)
        # ~8 % have a second middle name ("Nguyễn Thị Thu Hà").
        if random_() < 0.08:
            extra = choice(GIVEN_FEMALE if not male else GIVEN_MALE)
            full_name = f"{surname} {middle} {extra} {given}"
        else:
            full_name = f"{surname} {middle} {given}"
        # Ages 14 (first CCCD) to 95, most around 30: a rough population pyramid.
        year = today.year - int(triangular(14, 96, 32))
        birth = date(year, 1, 1) + timedelta(days=randrange(365))
        if birth > today:
            birth = today - timedelta(days=randrange(1, 300))
            year = birth.year
        code = (0 if year < 2000 else 2) + (0 if male else 1)
        prefix = f"{choices(provinces, cum_weights=province_cum)[0]}{code}{year % 100:02d}"
        count = counters.get(prefix, 0)
        if count >= _SERIALS:
            raise ValueError("too many rows for unique CCCD numbers")
        counters[prefix] = count + 1
        cccd = f"{prefix}{(count * serial_mul + serial_add * int(prefix)) % _SERIALS:06d}"
        slot = (i * phone_mul + phone_add) % phone_space
        national = f"0{MOBILE_PREFIXES[slot // _SUBSCRIBERS]}{slot % _SUBSCRIBERS:07d}"
        style = random_()
        if style < 0.85:
            phone = national
        elif style < 0.95:
            phone = f"+84{national[1:]}"
        else:
            phone = f"{national[:4]} {national[4:7]} {national[7:]}"
        if random_() < 0.4:
            email = ""
        else:
            local = fold_name(full_name).replace(" ", choice(("", ".", "")))
            domain = choices(domains, cum_weights=domain_cum)[0]
            email = f"{local}{year % 100:02d}{randrange(1000)}@{domain}"
        birthdate = birth.isoformat() if random_() < 0.9 else birth.strftime("%d/%m/%Y")
        yield (cccd, full_name, birthdate, "male" if male else "female", phone, email,
               choice(communes))


def bad_row(kind: str, good: Row, earlier: Row) -> Row:
    """``good`` broken in the way ``kind`` names (``earlier`` for the duplicate)."""
    cccd, name, birthdate, gender, phone, email, commune = good
    if kind == "cccd_length":
        cccd = cccd[:-1]
    elif kind == "cccd_province":
        cccd = "003" + cccd[3:]  # 003 is no province code
    elif kind == "year_mismatch":
        year = int(birthdate[:4]) if "-" in birthdate else int(birthdate[-4:])
        birthdate = f"{year - 1 if year > 1931 else year + 1}-06-15"
    elif kind == "gender_mismatch":
        gender = "female" if gender == "male" else "male"
    elif kind == "bad_date":
        year = int(birthdate[:4]) if "-" in birthdate else int(birthdate[-4:])
        birthdate = f"31/02/{year}"
    elif kind == "landline":
        phone = "02083851234"  # a Thái Nguyên landline
    elif kind == "phone_letters":
        phone = "09l2345678"
    elif kind == "bad_email":
        email = "ten@@example"
    elif kind == "unknown_commune":
        commune = "99999"
    elif kind == "other_province":
        commune = "00004"  # Phường Ba Đình, Hà Nội
    elif kind == "name_digits":
        name = name + " 2"
    elif kind == "empty_name":
        name = "   "
    elif kind == "duplicate_cccd":
        return earlier  # the same person twice: only the first row counts
    else:
        raise ValueError(kind)
    return (cccd, name, birthdate, gender, phone, email, commune)


def rows_with_bad(n: int, bad: int, *, seed: int = 2025, today: date | None = None
                  ) -> Iterator[tuple[Row, str | None]]:
    """``n`` good rows with ``bad`` broken ones spread evenly among them: (row, kind or None).

    The file has ``n + bad`` data rows; broken ones take the kinds of ``BAD_KINDS`` in turn."""
    total = n + bad
    positions = {(k + 1) * total // (bad + 1) for k in range(bad)} if bad else set()
    # Two bad rows may fall on the same index in tiny files: spread the remainder at the end.
    spare = bad - len(positions)
    first: Row | None = None
    made = 0
    for i, row in enumerate(rows(total, seed=seed, today=today)):
        if first is None:
            first = row
        if i in positions or (spare and i >= total - spare):
            kind = BAD_KINDS[made % len(BAD_KINDS)][0]
            made += 1
            yield bad_row(kind, row, first), kind
        else:
            yield row, None


def to_cp1258(text: str) -> bytes:
    """Windows-1258 bytes as legacy Vietnamese software writes them: precomposed letters where
    the code page has them (â, ơ, đ...), the tone mark as a separate combining character."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        # "ễ" = e + circumflex + tilde: "ê" is in the code page, the tilde is a combining mark
        # ("ệ" decomposes with the dot below first: try each mark as the one to precompose).
        for keep in range(len(marks)):
            rest = marks[:keep] + marks[keep + 1:]
            try:
                out += (unicodedata.normalize("NFC", base + marks[keep]).encode("cp1258")
                        + "".join(rest).encode("cp1258"))
                break
            except UnicodeEncodeError:
                continue
        else:
            out += (base + "".join(marks)).encode("cp1258")  # raises if still impossible
    return bytes(out)


def write_csv(out: io.TextIOBase, n: int, *, bad: int = 0, seed: int = 2025) -> int:
    """Write header and rows to a text stream (newline=""); return the number of data rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    batch: list[Row] = []
    written = 0
    for row, _kind in rows_with_bad(n, bad, seed=seed):
        batch.append(row)
        if len(batch) >= 10_000:
            writer.writerows(batch)
            written += len(batch)
            batch.clear()
    writer.writerows(batch)
    return written + len(batch)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="valid rows (default 1000)")
    parser.add_argument("--bad-rows", type=int, default=0,
                        help="rows an importer must refuse, mixed in (default 0)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=None, help="file (default: stdout)")
    parser.add_argument("--encoding", default="utf-8",
                        help="utf-8 (default), utf-8-sig (with BOM) or cp1258")
    args = parser.parse_args(argv)
    if args.out is None:
        out = io.TextIOWrapper(sys.stdout.buffer, encoding=args.encoding, newline="")
        written = write_csv(out, args.rows, bad=args.bad_rows, seed=args.seed)
        out.flush()
        out.detach()
    else:
        with args.out.open("w", encoding=args.encoding, newline="") as out:
            written = write_csv(out, args.rows, bad=args.bad_rows, seed=args.seed)
    print(f"{written} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
