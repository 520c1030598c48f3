"""The broad benchmark's tables: real public data shipped inside pip packages, plus tables assembled
from them to show the faults of issue #17 (dates with offsets, postal codes tied to places, money
with losses and discounts, wide sparse tables, tiny tables, dates that carry seasons).

Nothing here touches the network: every file comes from statsmodels (its ``datasets`` package and
the real data behind its test suite), scikit-learn's bundled ``load_*`` sets and matplotlib's
``sample_data``. Assembled tables draw from a fixed seed, so each run builds the same bytes.

usage (listing): python benchmarks/bench_broad.py --list
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Table", "TABLES", "load"]


@dataclass(frozen=True)
class Table:
    name: str
    build: Callable[[], pd.DataFrame]
    target: str | None
    source: str  # one line: where the data come from and under which terms
    shows: str = ""  # which fault of the issue the table is there to show, if any


def _sm_dir() -> Path:
    import statsmodels

    return Path(statsmodels.__file__).parent


def _sm(name: str) -> pd.DataFrame:
    import importlib

    with warnings.catch_warnings():  # statsmodels' loaders warn about their own pandas use
        warnings.simplefilter("ignore")
        mod = importlib.import_module(f"statsmodels.datasets.{name}")
        return mod.load_pandas().data.copy()


def _mpl_sample(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


# --- real tables, as shipped ---------------------------------------------------------------------

def _anes96() -> pd.DataFrame:
    return _sm("anes96")


def _fair() -> pd.DataFrame:
    return _sm("fair")


def _modechoice() -> pd.DataFrame:
    return _sm("modechoice")


def _randhie() -> pd.DataFrame:
    return _sm("randhie")


def _star98() -> pd.DataFrame:
    return _sm("star98")


def _sunspots() -> pd.DataFrame:
    return _sm("sunspots")


def _framing() -> pd.DataFrame:
    df = pd.read_csv(_sm_dir() / "stats/tests/results/framing.csv", index_col=0)
    return df.reset_index(drop=True)


def _dietox() -> pd.DataFrame:
    # The file has one more field per row than header names: the first is a row number.
    return pd.read_csv(_sm_dir() / "regression/tests/results/dietox.csv").reset_index(drop=True)


def _racd10() -> pd.DataFrame:
    return pd.read_csv(_sm_dir() / "sandbox/regression/tests/racd10data_with_transformed.csv")


def _medpar() -> pd.DataFrame:
    return pd.read_csv(_sm_dir() / "genmod/tests/results/stata_medpar1_glm.csv")


def _cattaneo2() -> pd.DataFrame:
    return pd.read_csv(_sm_dir() / "treatment/tests/results/cataneo2.csv")


def _mvreg() -> pd.DataFrame:
    return pd.read_csv(_sm_dir() / "multivariate/tests/results/mvreg.csv")


def _griliches76() -> pd.DataFrame:
    df = pd.read_stata(_sm_dir() / "sandbox/regression/tests/griliches76.dta")
    return df.astype("float64")


def _frbny_monthly() -> pd.DataFrame:
    # Macro series as published, dates as M/D/YY, many series starting late or quarterly (sparse).
    return pd.read_csv(_sm_dir() / "tsa/statespace/tests/results/frbny_nowcast/Nowcasting/data/US/2016-06-29.csv")


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    df = load_digits(as_frame=True).frame
    return df.astype("int64")


def _fertility_long() -> pd.DataFrame:
    # World Bank fertility rates, melted to one row per country and year: the country name and
    # code repeat 54 times each (places that are categories, not PII), with missing years.
    df = _sm("fertility").drop(columns=["Indicator Name", "Indicator Code"])
    long = df.melt(id_vars=["Country Name", "Country Code"], var_name="year", value_name="fertility_rate")
    long["year"] = long["year"].astype(int)
    return long.sort_values(["Country Code", "year"]).reset_index(drop=True)


# --- real values, dates rendered the way exports write them -------------------------------------

def _co2_utc_offset() -> pd.DataFrame:
    # Mauna Loa weekly CO2; the week's date at local midnight (HST = UTC-10) written in UTC with an
    # explicit offset, e.g. 1958-03-29 10:00:00+00:00 (issue #17, item 1).
    df = _sm("co2")
    ts = pd.DatetimeIndex(df.index).tz_localize("Pacific/Honolulu").tz_convert("UTC")
    return pd.DataFrame({"measured_at": [str(t) for t in ts], "co2_ppm": df["co2"].to_numpy()})


def _elec_vic_local() -> pd.DataFrame:
    # Victoria (AU) hourly electricity demand; local time with a 'T', milliseconds and the offset,
    # which changes with daylight saving (+11:00 / +10:00).
    df = pd.read_csv(_sm_dir() / "tsa/stl/tests/results/mstl_elec_vic.csv")
    ts = pd.to_datetime(df["ds"]).dt.tz_localize("UTC").dt.tz_convert("Australia/Melbourne")
    return pd.DataFrame({"timestamp": [t.isoformat(timespec="milliseconds") for t in ts],
                         "demand_mw": df["y"].round(3)})


def _goog_epoch() -> pd.DataFrame:
    # Google daily prices 2004-2008; the date as Unix epoch seconds (a number that is a date).
    d = np.load(_mpl_sample("goog.npz"))["price_data"]
    df = pd.DataFrame({k: d[k] for k in d.dtype.names})
    df["date"] = (pd.to_datetime(df["date"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return df.rename(columns={"date": "epoch_s"})


def _stocks_monthly_z() -> pd.DataFrame:
    # Monthly closes of 10 tickers 1990-2017 (Yahoo Finance via matplotlib); ISO 8601 with 'Z'.
    df = pd.read_csv(_mpl_sample("Stocks.csv"), comment="#")
    df["Date"] = pd.to_datetime(df["Date"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return df


def _macro_quarterly() -> pd.DataFrame:
    # US quarterly macro data 1959-2009 (203 rows: under 200 training rows, below the DCR target).
    df = _sm("macrodata")
    q = pd.PeriodIndex.from_fields(year=df["year"].astype(int), quarter=df["quarter"].astype(int), freq="Q")
    df.insert(0, "quarter_start", q.start_time.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    return df.drop(columns=["year", "quarter"])


# --- assembled tables (seeded) ------------------------------------------------------------------

@cache
def _places(seed: int = 0) -> pd.DataFrame:
    """A fixed register of ~400 US cities, each in one state and with 1-3 five-digit postal codes
    drawn from that state's real ZIP range (Faker en_US), so New England codes start with 0."""
    from faker import Faker
    from faker.providers.address.en_US import Provider

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    ranges = {s: r for s, r in Provider.states_postcode.items() if s in Provider.states_abbr}
    states = sorted(ranges)
    # Heavier weight on a few large states and on the leading-zero states (CT, MA, NJ, ...).
    w = np.ones(len(states))
    for s, extra in {"CA": 6, "TX": 5, "NY": 4, "FL": 4, "MA": 3, "NJ": 3, "CT": 2, "PA": 2, "IL": 2}.items():
        w[states.index(s)] += extra
    rows, seen = [], set()
    while len(rows) < 400:
        city = fake.city()
        if city in seen:
            continue
        seen.add(city)
        st = states[rng.choice(len(states), p=w / w.sum())]
        lo, hi = ranges[st]
        for z in rng.choice(np.arange(lo, hi + 1), size=int(rng.integers(1, 4)), replace=False):
            rows.append((city, st, f"{int(z):05d}"))
    return pd.DataFrame(rows, columns=["city", "state", "postal_code"])


REGION = {**dict.fromkeys(["CT", "MA", "ME", "NH", "NJ", "NY", "PA", "RI", "VT", "DE", "MD", "DC"], "East"),
          **dict.fromkeys(["AL", "AR", "FL", "GA", "KY", "LA", "MS", "NC", "SC", "TN", "VA", "WV"], "South"),
          **dict.fromkeys(["IA", "IL", "IN", "KS", "MI", "MN", "MO", "ND", "NE", "OH", "SD", "WI", "OK", "TX"],
                          "Central")}


def _retail_orders() -> pd.DataFrame:
    """Superstore-like order lines: companies and places that repeat, postal codes with leading
    zeros tied to the state, and money with discounts and losses
    (sales = unit_price * quantity * (1 - discount); profit = sales - unit_cost * quantity)."""
    from faker import Faker

    rng = np.random.default_rng(17)
    fake = Faker("en_US")
    fake.seed_instance(17)
    places = _places()
    companies = [fake.company() for _ in range(250)]
    n_cust = 900
    cust = pd.DataFrame({
        "customer_company": rng.choice(companies, n_cust),
        "segment": rng.choice(["Consumer", "Corporate", "Home Office"], n_cust, p=[0.52, 0.3, 0.18]),
        "place": rng.integers(0, len(places), n_cust),
    })
    subcats = {"Furniture": ["Bookcases", "Chairs", "Furnishings", "Tables"],
               "Office Supplies": ["Appliances", "Art", "Binders", "Envelopes", "Fasteners", "Labels", "Paper",
                                   "Storage", "Supplies"],
               "Technology": ["Accessories", "Copiers", "Machines", "Phones"]}
    prods = []
    for cat, subs in subcats.items():
        for sub in subs:
            base = {"Furniture": 180, "Office Supplies": 25, "Technology": 220}[cat] * rng.lognormal(0, 0.5)
            for k in range(int(rng.integers(5, 12))):
                price = round(float(base * rng.lognormal(0, 0.6)), 2) + 0.99 - 0.99 * (k % 2)
                prods.append((cat, sub, f"{sub[:-1] if sub.endswith('s') else sub} {fake.word().title()} "
                                        f"{rng.integers(100, 999)}", price, float(rng.uniform(0.55, 0.9))))
    prods_df = pd.DataFrame(prods, columns=["category", "sub_category", "product_name", "unit_price", "cost_ratio"])
    n = 9000
    days = pd.date_range("2014-01-01", "2017-12-31", freq="D")
    # More orders late in the year (Sept-Dec) and a slow trend up.
    doy = days.dayofyear.to_numpy()
    wd = (1 + 0.6 * (doy > 244)) * np.linspace(0.7, 1.3, len(days))
    order_day = days[rng.choice(len(days), n, p=wd / wd.sum())]
    ship_mode = rng.choice(["Standard Class", "Second Class", "First Class", "Same Day"], n, p=[.6, .2, .15, .05])
    ship_days = np.select([ship_mode == "Same Day", ship_mode == "First Class", ship_mode == "Second Class"],
                          [0, rng.integers(1, 4, n), rng.integers(2, 6, n)], rng.integers(4, 8, n))
    c = cust.iloc[rng.integers(0, n_cust, n)].reset_index(drop=True)
    pl = places.iloc[c["place"].to_numpy()].reset_index(drop=True)
    p = prods_df.iloc[rng.integers(0, len(prods_df), n)].reset_index(drop=True)
    region = pl["state"].map(REGION).fillna("West").to_numpy()
    qty = np.minimum(rng.geometric(0.3, n), 14)
    # Discounts depend on the region and the category; deep ones turn orders into losses.
    levels = np.array([0.0, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8])
    deep = (region == "Central") | (p["sub_category"].isin(["Tables", "Bookcases", "Machines"]).to_numpy())
    pd_ = np.where(deep[:, None], [.35, .05, .05, .2, .1, .05, .08, .07, .05], [.6, .1, .05, .2, .02, .01, .01, .005,
                                                                                .005])
    pd_ = pd_ / pd_.sum(1, keepdims=True)
    disc = levels[(pd_.cumsum(1) > rng.random(n)[:, None]).argmax(1)]
    unit_price = p["unit_price"].to_numpy()
    sales = np.round(unit_price * qty * (1 - disc), 2)
    profit = np.round(sales - unit_price * p["cost_ratio"].to_numpy() * qty, 2)
    ship = order_day + pd.to_timedelta(ship_days, unit="D")
    out = pd.DataFrame({
        "order_date": order_day.strftime("%Y-%m-%d"), "ship_date": ship.strftime("%Y-%m-%d"), "ship_mode": ship_mode,
        "customer_company": c["customer_company"], "segment": c["segment"], "city": pl["city"],
        "state": pl["state"], "postal_code": pl["postal_code"], "region": region,
        "category": p["category"], "sub_category": p["sub_category"], "product_name": p["product_name"],
        "unit_price": unit_price, "quantity": qty, "discount": disc, "sales": sales, "profit": profit,
    })
    return out.sort_values("order_date", kind="stable").reset_index(drop=True)


def _customers_places() -> pd.DataFrame:
    """A tiny customer register (450 rows): repeated cities and companies, postal codes as text
    with leading zeros, a signup time with a 'Z', and a credit limit."""
    from faker import Faker

    rng = np.random.default_rng(5)
    fake = Faker("en_US")
    fake.seed_instance(5)
    places = _places()
    n = 450
    pl = places.iloc[rng.integers(0, 120, n)].reset_index(drop=True)  # 120 places: each repeats
    companies = [fake.company() for _ in range(60)]
    signup = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365 * 86400, n), unit="s")
    seg = rng.choice(["Consumer", "Corporate", "Home Office"], n, p=[0.5, 0.3, 0.2])
    limit = np.round(np.where(seg == "Corporate", 20000, 5000) * rng.lognormal(0, 0.6, n), -2)
    return pd.DataFrame({
        "company": rng.choice(companies, n), "segment": seg, "city": pl["city"], "state": pl["state"],
        "postal_code": pl["postal_code"], "signup_at": signup.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credit_limit": limit, "orders_last_year": rng.poisson(np.where(seg == "Corporate", 12, 4)),
    })


def _weather_daily() -> pd.DataFrame:
    """Four years of daily weather (1,461 rows, Seattle-like): the day of the year drives the
    temperatures, rain and wind; the weather kind follows from them (issue #17, item 6)."""
    rng = np.random.default_rng(6)
    days = pd.date_range("2012-01-01", "2015-12-31", freq="D")
    phase = 2 * np.pi * (days.dayofyear.to_numpy() - 15) / 365.25
    noise = np.zeros(len(days))
    for i in range(1, len(days)):  # weather persists from day to day
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 2.2)
    temp_max = np.round(16 - 9 * np.cos(phase) + noise, 1)
    temp_min = np.round(temp_max - rng.uniform(4, 10, len(days)) + 2 * np.cos(phase), 1)
    p_rain = 0.45 + 0.3 * np.cos(phase)
    wet = rng.random(len(days)) < p_rain
    precip = np.where(wet, np.round(rng.gamma(0.8, 4 + 3 * np.cos(phase)), 1), 0.0)
    wind = np.round(rng.gamma(4, 0.8 + 0.25 * np.cos(phase)), 1)
    kind = np.where(wet & (temp_max < 3), "snow", np.where(wet & (precip >= 1), "rain",
                    np.where(wet, "drizzle", np.where(rng.random(len(days)) < 0.08, "fog", "sun"))))
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "precipitation": precip, "temp_max": temp_max,
                         "temp_min": temp_min, "wind": wind, "weather": kind})


def _claims_wide() -> pd.DataFrame:
    """10,000 RAND HIE person-years (10 real columns) widened to 55 columns with 30 procedure
    counts (mostly zero) and 15 lab values (mostly missing, measured only after a procedure),
    all driven by the real visit counts and health status (issue #17, item 5)."""
    rng = np.random.default_rng(55)
    base = _sm("randhie").iloc[:10000].reset_index(drop=True)
    n = len(base)
    load = (1 + base["mdvis"].to_numpy()) * np.exp(0.03 * base["disea"].to_numpy())
    cols = {}
    for k in range(30):
        rate = 0.004 * (1 + k % 7) * load
        cols[f"proc_{k + 1:02d}"] = rng.poisson(rate)
    procs = np.column_stack(list(cols.values()))
    for k in range(15):
        measured = procs[:, 2 * k] + procs[:, 2 * k + 1] > 0
        v = 50 + 10 * base["hlthp"].to_numpy() + 0.5 * base["disea"].to_numpy() + rng.normal(0, 8, n)
        cols[f"lab_{k + 1:02d}"] = np.where(measured, np.round(v, 1), np.nan)
    return pd.concat([base, pd.DataFrame(cols)], axis=1)


_SM = "statsmodels {} (BSD-3 package; public-domain / published data, see its docs)"
TABLES: list[Table] = [
    Table("anes96", _anes96, "vote", _SM.format("datasets.anes96: 1996 American National Election Study")),
    Table("fair", _fair, "affairs", _SM.format("datasets.fair: Fair (1978) extramarital affairs survey")),
    Table("modechoice", _modechoice, "choice", _SM.format("datasets.modechoice: Greene travel mode choice")),
    Table("randhie", _randhie, "mdvis", _SM.format("datasets.randhie: RAND Health Insurance Experiment")),
    Table("star98", _star98, "NABOVE", _SM.format("datasets.star98: California STAR 1998 test scores"), "tiny"),
    Table("sunspots", _sunspots, None, _SM.format("datasets.sunspots: yearly sunspots 1700-2008"),
          "tiny"),
    Table("framing", _framing, "cong_mesg", _SM.format("stats tests: Brader et al. (2008) framing experiment"),
          "tiny"),
    Table("dietox", _dietox, "Weight", _SM.format("regression tests: dietox pig growth (R geepack)")),
    Table("racd10", _racd10, "docvis", _SM.format("sandbox tests: Cameron & Trivedi racd10 Medicare doctor "
                                                  "visits")),
    Table("medpar", _medpar, "los", _SM.format("genmod tests: Hilbe medpar length of stay (Stata)")),
    Table("cattaneo2", _cattaneo2, "bweight", _SM.format("treatment tests: Cattaneo (2010) birth weights")),
    Table("mvreg", _mvreg, "prog", _SM.format("multivariate tests: UCLA mvreg example")),
    Table("griliches76", _griliches76, "lw", _SM.format("sandbox tests: Griliches (1976) wages, Stata file")),
    Table("frbny_monthly", _frbny_monthly, "UNRATE",
          _SM.format("tsa tests: FRBNY nowcast US macro series (FRED), M/D/YY dates"), "wide, dates"),
    Table("fertility_long", _fertility_long, "fertility_rate",
          _SM.format("datasets.fertility: World Bank fertility, melted to country-year"), "places"),
    Table("macro_quarterly", _macro_quarterly, "realgdp",
          _SM.format("datasets.macrodata: US quarterly macro 1959-2009, quarter start with .000Z"),
          "tiny (<200 train), dates"),
    Table("co2_utc_offset", _co2_utc_offset, "co2_ppm",
          _SM.format("datasets.co2: Mauna Loa weekly CO2, dates as 'YYYY-MM-DD HH:MM:SS+00:00'"), "dates"),
    Table("elec_vic_local", _elec_vic_local, "demand_mw",
          _SM.format("tsa tests: Victoria hourly electricity demand, local ISO 'T' + ms + DST offset"), "dates"),
    Table("breast_cancer", _breast_cancer, "target",
          "scikit-learn load_breast_cancer (BSD-3; UCI Wisconsin diagnostic, CC BY 4.0)", "tiny"),
    Table("diabetes", _diabetes, "target", "scikit-learn load_diabetes(scaled=False) (BSD-3; Efron et al. 2004)",
          "tiny"),
    Table("digits", _digits, "target", "scikit-learn load_digits (BSD-3; UCI optical digits, CC BY 4.0)",
          "wide sparse"),
    Table("goog_epoch", _goog_epoch, "volume",
          "matplotlib sample_data goog.npz (PSF-style licence; Yahoo Finance), date as epoch seconds", "dates"),
    Table("stocks_monthly", _stocks_monthly_z, "^GSPC",
          "matplotlib sample_data Stocks.csv (Yahoo Finance), dates 'YYYY-MM-DDTHH:MM:SSZ', late starts missing",
          "dates, missing"),
    Table("retail_orders", _retail_orders, "profit",
          "assembled (seed 17): Superstore-like order lines over Faker en_US places (real state ZIP ranges)",
          "places, postal codes, money"),
    Table("customers_places", _customers_places, "credit_limit",
          "assembled (seed 5): customer register over the same places, postal codes as text", "tiny, places"),
    Table("weather_daily", _weather_daily, "temp_max",
          "assembled (seed 6): simulated daily weather 2012-2015, seasons by day of year", "seasons"),
    Table("claims_wide", _claims_wide, "mdvis",
          "assembled (seed 55): 10k randhie rows + 30 sparse counts + 15 mostly-missing labs (55 columns)",
          "wide sparse"),
]


def load(name: str) -> pd.DataFrame:
    """Build one table by name."""
    for t in TABLES:
        if t.name == name:
            return t.build()
    raise KeyError(f"no broad table {name!r}; known: {', '.join(t.name for t in TABLES)}")
