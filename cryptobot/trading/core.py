"""The execution core: fills, marks, sizing, risk checks and orders at a bar close, compiled once.

The trading flow's step (paper and live) and the backtest run the same function:
:func:`step_bars` does everything that happens at each bar close of ``first..last`` for every
symbol; the trading flow calls it for its one bar, a backtest (:func:`run_bars`) for every bar of
a window. Only the clock (one bar from the warehouse, or every bar of history in memory) and the
broker (paper fills here, or a live exchange) differ. The functions are compiled with numba
(``cache=True``: compiled once per machine, then loaded) and the loop over bars lives inside the
compiled function, so a bar costs tens of nanoseconds and the hourly step pays microseconds.

What happens at the close of bar ``t`` (``as_of = ts[t] + bar``), in order:

1. **Fill** every open paper order at the open of the first bar of its symbol that opened after
   its decision and is known at ``as_of`` (the next price that existed after the decision),
   paying half the spread, a fixed slippage and a square-root impact, then the taker fee::

       price = open * (1 ± (spread / 2 + slippage + impact * vol * sqrt(notional / quote_volume)))
       fee   = fee_rate * amount * price

   (``quote_volume`` = the fill bar's volume * open.)

   (+ buys, - sells; ``vol`` is the per-bar volatility of the decision bar).
2. **Mark** each symbol at the close of its newest row known at ``as_of`` and append the equity
   point: cash + positions, gross exposure, peak, drawdown, the UTC day's opening equity.
3. **Decide**, symbol by symbol in the configured order, where the strategy gave a target weight
   (NaN: no decision this bar): the wanted amount is ``weight * max_position_size * equity /
   close`` rounded towards zero to the market's amount step; every risk check runs on it (all
   of them with ``audit``, else only when they can change the outcome: for an order that adds
   risk); an order that adds risk is blocked by any failed check, or while trading is paused
   (``P_PAUSED``: a human's pause, honoured like the kill switch; a blocked flip still closes
   the old side); an order smaller than the rebalance band (a share of the allocation), or
   below the market's minimum amount or notional, is held back. An order goes on the book and
   counts as pending for the symbols decided after it. A strategy that does not resize
   (``resize = False``, e.g. buy-and-hold) holds a position already on the wanted side.

Arrays, ``T`` bars by ``K`` symbols: ``ts`` (int64 ns, bar open times, ascending), ``avail``
(int64 ns: when each row became known; ``NO_ROW`` where a symbol has no row), ``market``
(float64 ``[T, K, 5]``: open, close, volume, per-bar volatility, log return), ``targets``
(float64 ``[T, K]``). The state lives in :class:`Book`, whose arrays the functions update in
place, so the trading flow can load an account from the warehouse, step it, and store it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from cryptobot.timeframes import window_bars

# -- layouts -------------------------------------------------------------------------------------

#: ``market[t, k, field]``; ``FX`` (optional: a market array of 5 fields has a rate of 1) is
#: the rate of the symbol's quote currency in the account currency known at bar ``t``'s close
OPEN, CLOSE, VOLUME, VOL, LOGRET, FX = range(6)
MARKET_FIELDS = ("open", "close", "volume", "realized_vol_24", "log_return_1")
#: ``avail`` of a (bar, symbol) with no row
NO_ROW = np.iinfo(np.int64).max
#: ``params[...]``: the risk limits, the sizing and the paper broker's costs
(
    P_MAX_POSITION,
    P_MAX_DAILY_LOSS,
    P_MAX_DRAWDOWN,
    P_CORRELATION,
    P_LEVERAGE,
    P_VOLATILITY,
    P_LIQUIDITY,
    P_SPREAD_MAX,
    P_REBALANCE,
    P_FEE,
    P_SPREAD,
    P_SLIPPAGE,
    P_IMPACT,
    P_CORR_WINDOW,
    P_LIQ_WINDOW,
    P_BAR_NS,
    P_FILL,
    P_RESIZE,
    P_PAUSED,
) = range(19)
N_PARAMS = 19
#: ``rules[k, ...]``: the market's amount step, minimum amount, minimum notional (quote
#: currency), the relative spread its spread check sees (NaN: unknown, not checked) and its
#: taker fee
M_STEP, M_MIN_AMOUNT, M_MIN_COST, M_SPREAD, M_FEE = range(5)
N_RULES = 5
#: the risk checks, in ``RiskLimits`` order (``checks[k, i, VALUE|PASSED]``)
CHECK_NAMES = (
    "max_position_size",
    "max_daily_loss",
    "max_drawdown",
    "correlation_limit",
    "leverage_limit",
    "volatility_threshold",
    "liquidity_minimum",
    "spread_maximum",
)
N_CHECKS = len(CHECK_NAMES)
VALUE, PASSED, OTHER = 0, 1, 2
#: ``account[...]``
A_CASH, A_CASH_COMP, A_HAS_PREV, A_PEAK, A_DAY_START, A_DAY = range(6)
N_ACCOUNT = 6
#: ``positions[k, ...]``
S_AMOUNT, S_AVG, S_REALIZED, S_FEES, S_MARK = range(5)
N_POSITION = 5
#: ``equity[t, ...]``
(
    E_CASH,
    E_VALUE,
    E_EQUITY,
    E_GROSS,
    E_PEAK,
    E_DRAWDOWN,
    E_DAY_START,
    E_DAILY_PNL,
    E_MARKED,
) = range(9)
N_EQUITY = 9
#: ``fills[i, ...]``: price, fee and costs in the quote currency; ``F_RATE`` converts them to
#: the account currency (the quote's rate known at the fill)
(
    F_ORDER,
    F_BAR,
    F_AMOUNT,
    F_PRICE,
    F_FEE,
    F_REFERENCE,
    F_SPREAD_COST,
    F_SLIPPAGE_COST,
    F_RATE,
) = range(9)
N_FILL = 9
#: what a decision did (``decisions[k, D_ACTION]``) and why (``D_REASON``)
SKIP, HOLD, BLOCKED, ORDER = range(4)
ACTIONS = ("skip", "hold", "blocked", "order")
(
    R_NONE,
    R_AT_TARGET,
    R_BAND,
    R_MIN_AMOUNT,
    R_MIN_COST,
    R_BLOCKED,
    R_FLIP_CLOSING,
    R_ORDER,
) = range(8)
N_REASONS = 8
#: what a backtest's ``tally`` counts: each reason code, then each check that blocked a decision
REASON_NAMES = (
    "no decision",
    "at target",
    "within the rebalance band",
    "below the market's minimum amount",
    "below the market's minimum notional",
    "blocked by a risk check",
    "flip blocked: closing only",
    "order",
)
D_ACTION, D_REASON, D_CURRENT, D_WANTED, D_DELTA, D_PRICE, D_ORDER = range(7)
N_DECISION = 7

#: amounts smaller than this are zero (float dust left by rounding)
DUST = 1e-12
DAY_NS = 86_400 * 1_000_000_000


# -- arithmetic of one order ---------------------------------------------------------------------


@njit(cache=True)
def round_amount(amount: float, step: float) -> float:
    """``amount`` rounded towards zero to the market's step (an order never exceeds what was
    sized); 1e-6 of a step absorbs float error (a position of 1.9e9 steps is off by ~1e-7)."""
    steps = math.floor(abs(amount) / step + 1e-6)
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    scale = 10.0**decimals
    return math.copysign(round(steps * step * scale) / scale, amount)


@njit(cache=True)
def too_small(amount: float, price: float, min_amount: float, min_cost: float) -> int:
    """``R_MIN_AMOUNT`` / ``R_MIN_COST`` when an order of ``amount`` at ``price`` is below the
    market's minimums, else ``R_NONE``."""
    if abs(amount) < min_amount:
        return R_MIN_AMOUNT
    if abs(amount) * price < min_cost:
        return R_MIN_COST
    return R_NONE


@njit(cache=True)
def paper_fill(
    signed_amount: float,
    mid: float,
    volume: float,
    vol: float,
    fee_rate: float,
    spread: float,
    slippage: float,
    impact: float,
) -> tuple[float, float, float, float]:
    """(price, fee, spread cost, slippage cost) of a paper market order of ``signed_amount``
    filled at a bar opening at ``mid`` with base ``volume``; ``vol`` is the per-bar volatility
    known at the decision (NaN or 0: no impact)."""
    amount = abs(signed_amount)
    notional = amount * mid
    quote_volume = volume * mid
    cost = 0.0
    if impact > 0.0 and vol > 0.0 and quote_volume > 0.0:  # False for NaN
        cost = impact * vol * math.sqrt(notional / quote_volume)
    half_spread = spread / 2.0
    slip = slippage + cost
    sign = 1.0 if signed_amount > 0 else -1.0
    price = mid * (1.0 + sign * (half_spread + slip))
    fee = fee_rate * amount * price
    return price, fee, amount * mid * half_spread, amount * mid * slip


@njit(cache=True)
def apply_fill(positions, k: int, signed_amount: float, price: float, fee: float) -> None:
    """Position ``k`` after a fill: adding moves the average entry price; reducing realises
    ``(price - entry) * amount`` (sign flipped for shorts); crossing zero closes the old side and
    opens the rest at the fill price. Fees are kept apart."""
    old = positions[k, S_AMOUNT]
    new = old + signed_amount
    avg = positions[k, S_AVG]
    if abs(old) < DUST or old * signed_amount > 0:
        held = 0.0 if math.isnan(avg) else avg
        total = abs(old) + abs(signed_amount)
        positions[k, S_AVG] = (held * abs(old) + price * abs(signed_amount)) / total
    else:
        closed = min(abs(signed_amount), abs(old))
        direction = 1.0 if old > 0 else -1.0
        entry = price if math.isnan(avg) else avg
        positions[k, S_REALIZED] += direction * closed * (price - entry)
        if abs(new) < DUST:
            new = 0.0
            positions[k, S_AVG] = np.nan
        elif new * old < 0:
            positions[k, S_AVG] = price
    positions[k, S_AMOUNT] = new
    positions[k, S_FEES] += fee


@njit(cache=True)
def _add_cash(account, amount: float) -> None:
    """cash += amount, compensated (Neumaier): exact to the last bits over any number of fills,
    like the trading flow's ``math.fsum`` over the stored trades."""
    cash = account[A_CASH]
    total = cash + amount
    if abs(cash) >= abs(amount):
        account[A_CASH_COMP] += (cash - total) + amount
    else:
        account[A_CASH_COMP] += (amount - total) + cash
    account[A_CASH] = total


# -- what the risk checks need from recent bars --------------------------------------------------


@njit(cache=True)
def rate_at(market, t: int, k: int) -> float:
    """The quote->account rate of symbol ``k`` known at bar ``t``'s close (1 without rates)."""
    if market.shape[2] > FX:
        return market[t, k, FX]
    return 1.0


@njit(cache=True)
def window_rows(ts, market, avail, t: int, as_of: int, params, out) -> int:
    """Fill ``out`` with the bars (newest last) of the correlation window at bar ``t``: bars
    closed within ``max(correlation_window, liquidity_window)`` bars before ``as_of`` where some
    symbol has a known return, the newest ``correlation_window`` of them. Returns how many."""
    bar = int(params[P_BAR_NS])
    span = int(max(params[P_CORR_WINDOW], params[P_LIQ_WINDOW]))
    keep = int(params[P_CORR_WINDOW])
    start = as_of - span * bar
    count = 0
    i = t
    while i >= 0 and ts[i] + bar > start and count < keep:
        for k in range(market.shape[1]):
            if avail[i, k] <= as_of and not math.isnan(market[i, k, LOGRET]):
                out[count] = i
                count += 1
                break
        i -= 1
    # newest last
    for a in range(count // 2):
        out[a], out[count - 1 - a] = out[count - 1 - a], out[a]
    return count


@njit(cache=True)
def window_correlation(
    market, avail, as_of: int, rows, n_rows: int, a: int, b: int, min_periods: int
):
    """Pearson correlation of symbols ``a`` and ``b``'s bar returns over the window ``rows``,
    on the bars where both are known; NaN with fewer than ``min_periods`` such bars."""
    n = 0
    sx = 0.0
    sy = 0.0
    for r in range(n_rows):
        i = rows[r]
        x = market[i, a, LOGRET]
        y = market[i, b, LOGRET]
        if (
            avail[i, a] <= as_of
            and avail[i, b] <= as_of
            and not math.isnan(x)
            and not math.isnan(y)
        ):
            n += 1
            sx += x
            sy += y
    if n < min_periods or n < 2:
        return np.nan
    mx = sx / n
    my = sy / n
    cxy = 0.0
    cxx = 0.0
    cyy = 0.0
    for r in range(n_rows):
        i = rows[r]
        x = market[i, a, LOGRET]
        y = market[i, b, LOGRET]
        if (
            avail[i, a] <= as_of
            and avail[i, b] <= as_of
            and not math.isnan(x)
            and not math.isnan(y)
        ):
            dx = x - mx
            dy = y - my
            cxy += dx * dy
            cxx += dx * dx
            cyy += dy * dy
    if cxx <= 0.0 or cyy <= 0.0:
        return np.nan
    return cxy / math.sqrt(cxx * cyy)


@njit(cache=True)
def window_quote_volume(ts, market, avail, t: int, as_of: int, k: int, params) -> float:
    """Traded value (volume * close, in the account currency at each row's rate) of symbol
    ``k``'s newest ``liquidity_window`` rows closed within ``max(correlation_window,
    liquidity_window)`` bars before ``as_of``; NaN when it has fewer rows there."""
    bar = int(params[P_BAR_NS])
    span = int(max(params[P_CORR_WINDOW], params[P_LIQ_WINDOW]))
    need = int(params[P_LIQ_WINDOW])
    start = as_of - span * bar
    total = 0.0
    count = 0
    i = t
    while i >= 0 and ts[i] + bar > start and count < need:
        if avail[i, k] <= as_of:
            total += market[i, k, VOLUME] * market[i, k, CLOSE] * rate_at(market, i, k)
            count += 1
        i -= 1
    return total if count >= need else np.nan


# -- the risk checks -----------------------------------------------------------------------------


@njit(cache=True)
def risk_checks(
    k: int,
    price: float,
    wanted: float,
    rules,
    equity_row,
    positions,
    pending,
    ts,
    market,
    avail,
    t: int,
    as_of: int,
    params,
    rows,
    n_rows: int,
    out,
) -> bool:
    """Every check for symbol ``k`` wanting ``wanted`` (base) at ``price``: ``out[i, VALUE]`` is
    the measured value (NaN: unknown), ``out[i, PASSED]`` 1 or 0, in ``CHECK_NAMES`` order;
    ``out[3, OTHER]`` is the symbol the worst correlation is with (-1: none).
    Returns True when all passed. The limits (fractions of equity unless noted):

    * max_position_size: |target notional| / equity;
    * max_daily_loss: the loss since the UTC day's first mark / that mark's equity;
    * max_drawdown (the kill switch): 1 - equity / peak;
    * correlation_limit: the largest return correlation with an open position (held or pending)
      taken in the same direction (a short against a long counts negated); passes with none;
    * leverage_limit: gross exposure after the order / equity;
    * volatility_threshold: the newest per-bar volatility (unknown: fails);
    * liquidity_minimum: quote volume over the liquidity window (unknown: fails);
    * spread_maximum: the market's relative spread, ``rules[k, M_SPREAD]`` (NaN: unknown, passes).
    """
    equity = equity_row[E_EQUITY]
    target_notional = wanted * price
    all_passed = True

    share = abs(target_notional) / equity if equity > 0 else np.inf
    out[0, VALUE] = share
    out[0, PASSED] = 1.0 if share <= params[P_MAX_POSITION] + 1e-9 else 0.0

    day_start = equity_row[E_DAY_START]
    loss = max(0.0, -equity_row[E_DAILY_PNL] / day_start) if day_start != 0 else 0.0
    out[1, VALUE] = loss
    out[1, PASSED] = 1.0 if loss < params[P_MAX_DAILY_LOSS] else 0.0

    drawdown = equity_row[E_DRAWDOWN]
    out[2, VALUE] = drawdown
    out[2, PASSED] = 1.0 if drawdown < params[P_MAX_DRAWDOWN] else 0.0

    worst = np.nan
    out[3, OTHER] = -1.0
    gross = abs(target_notional)
    window = int(params[P_CORR_WINDOW])
    min_periods = max(min(24, window), window // 2)
    for j in range(positions.shape[0]):
        mark = positions[j, S_MARK]
        if j == k or math.isnan(mark):
            continue
        exposure = (positions[j, S_AMOUNT] + pending[j]) * mark
        gross += abs(exposure)
        if abs(exposure) > DUST and abs(target_notional) > DUST:
            corr = window_correlation(market, avail, as_of, rows, n_rows, k, j, min_periods)
            if not math.isnan(corr):
                same = corr * (1.0 if target_notional > 0 else -1.0)
                same *= 1.0 if exposure > 0 else -1.0
                if math.isnan(worst) or same > worst:
                    worst = same
                    out[3, OTHER] = j
    out[3, VALUE] = worst
    out[3, PASSED] = 1.0 if math.isnan(worst) or worst <= params[P_CORRELATION] else 0.0

    leverage = gross / equity if equity > 0 else np.inf
    out[4, VALUE] = leverage
    out[4, PASSED] = 1.0 if leverage <= params[P_LEVERAGE] else 0.0

    vol = market[t, k, VOL]
    out[5, VALUE] = vol
    out[5, PASSED] = 1.0 if vol <= params[P_VOLATILITY] else 0.0  # NaN fails

    volume = window_quote_volume(ts, market, avail, t, as_of, k, params)
    out[6, VALUE] = volume
    out[6, PASSED] = 1.0 if volume >= params[P_LIQUIDITY] else 0.0  # NaN fails

    spread = rules[k, M_SPREAD]
    out[7, VALUE] = spread
    out[7, PASSED] = 1.0 if math.isnan(spread) or spread <= params[P_SPREAD_MAX] else 0.0

    for i in range(N_CHECKS):
        if out[i, PASSED] == 0.0:
            all_passed = False
    return all_passed


# -- one bar -------------------------------------------------------------------------------------


@njit(cache=True)
def step_bars(
    first: int,
    last: int,
    as_of_last: int,
    ts,
    avail,
    market,
    targets,
    rules,
    params,
    account,
    positions,
    orders,
    order_state,
    fills,
    counts,
    equity,
    decisions,
    checks,
    audit: bool,
    rows,
    scratch,
    actions,
    tally=None,
) -> None:
    """Everything that happens at each bar close ``first..last`` (see the module docstring),
    oldest first: one bar for the trading flow's step, every bar of a window for a backtest.
    The last bar's decision time is ``as_of_last`` (the trading flow's clock; 0: its close).

    ``orders[i]``: (symbol, decision bar, signed amount, volatility at the decision, next bar
    to look for its fill); ``order_state[i]``: 0 open, 1 filled. ``counts``: [orders, fills,
    first open order]. ``decisions[k]`` and (with ``audit``, or when they decided) ``checks[k]``
    describe the last bar's decision per symbol; ``actions[t, k]`` keeps what each decision did;
    ``tally`` (optional, ``N_REASONS + N_CHECKS`` counts) adds up why, and which checks blocked.
    """
    n_symbols = market.shape[1]
    bar = int(params[P_BAR_NS])
    for t in range(first, last + 1):
        as_of = ts[t] + bar if t < last or as_of_last <= 0 else as_of_last

        # 1. fill open paper orders at the first bar of their symbol after the decision
        if params[P_FILL] > 0:
            first_open = counts[2]
            for o in range(counts[2], counts[0]):
                if order_state[o] != 0:
                    if o == first_open:
                        first_open += 1
                    continue
                k = int(orders[o, 0])
                i = int(orders[o, 4])
                found = -1
                while i <= t:
                    if avail[i, k] <= as_of:
                        found = i
                        break
                    i += 1
                orders[o, 4] = i
                if found < 0:
                    continue
                signed = orders[o, 2]
                price, fee, spread_cost, slippage_cost = paper_fill(
                    signed,
                    market[found, k, OPEN],
                    market[found, k, VOLUME],
                    orders[o, 3],
                    rules[k, M_FEE] if rules.shape[1] > M_FEE else params[P_FEE],
                    params[P_SPREAD],
                    params[P_SLIPPAGE],
                    params[P_IMPACT],
                )
                # the rate known at the fill bar's open: the newest close before it
                rate = rate_at(market, found - 1 if found > 0 else found, k)
                apply_fill(positions, k, signed, price * rate, fee * rate)
                _add_cash(account, (-signed * price - fee) * rate)
                f = counts[1]
                fills[f, F_ORDER] = o
                fills[f, F_BAR] = found
                fills[f, F_AMOUNT] = abs(signed)
                fills[f, F_PRICE] = price
                fills[f, F_FEE] = fee
                fills[f, F_REFERENCE] = market[found, k, OPEN]
                fills[f, F_SPREAD_COST] = spread_cost
                fills[f, F_SLIPPAGE_COST] = slippage_cost
                fills[f, F_RATE] = rate
                counts[1] = f + 1
                order_state[o] = 1
                if o == first_open:
                    first_open += 1
            counts[2] = first_open

        # 2. mark and the equity point
        for k in range(n_symbols):
            if avail[t, k] <= as_of:
                positions[k, S_MARK] = market[t, k, CLOSE] * rate_at(market, t, k)
        value = 0.0
        gross = 0.0
        for k in range(n_symbols):
            mark = positions[k, S_MARK]
            if not math.isnan(mark):
                v = positions[k, S_AMOUNT] * mark
                value += v
                gross += abs(v)
        cash = account[A_CASH] + account[A_CASH_COMP]
        now = cash + value
        day = as_of // DAY_NS
        if account[A_HAS_PREV] > 0:
            peak = max(now, account[A_PEAK])
            day_start = account[A_DAY_START] if account[A_DAY] == day else now
        else:
            peak = now
            day_start = now
        equity[t, E_CASH] = cash
        equity[t, E_VALUE] = value
        equity[t, E_EQUITY] = now
        equity[t, E_GROSS] = gross
        equity[t, E_PEAK] = peak
        equity[t, E_DRAWDOWN] = 1.0 - now / peak if peak > 0 else 0.0
        equity[t, E_DAY_START] = day_start
        equity[t, E_DAILY_PNL] = now - day_start
        equity[t, E_MARKED] = 1.0
        account[A_HAS_PREV] = 1.0
        account[A_PEAK] = peak
        account[A_DAY_START] = day_start
        account[A_DAY] = day

        # 3. decide, symbol by symbol; earlier decisions of this bar count as pending
        pending = scratch  # [K]: what open orders will add to each position
        for k in range(n_symbols):
            pending[k] = 0.0
        for o in range(counts[2], counts[0]):
            if order_state[o] == 0:
                pending[int(orders[o, 0])] += orders[o, 2]
        n_rows = -1  # the correlation window, found once per bar when first needed
        for k in range(n_symbols):
            decisions[k, D_ACTION] = SKIP
            decisions[k, D_REASON] = R_NONE
            decisions[k, D_ORDER] = -1.0
            target = targets[t, k]
            if avail[t, k] > as_of or math.isnan(target):
                continue
            quote_price = market[t, k, CLOSE]
            price = quote_price * rate_at(market, t, k)  # in the account currency
            current = positions[k, S_AMOUNT] + pending[k]
            allocation = params[P_MAX_POSITION] * now
            weight = min(1.0, max(-1.0, target))
            wanted = (
                round_amount(weight * allocation / price, rules[k, M_STEP])
                if allocation > 0
                else 0.0
            )
            decisions[k, D_CURRENT] = current
            decisions[k, D_WANTED] = wanted
            decisions[k, D_PRICE] = quote_price
            decisions[k, D_DELTA] = 0.0
            if params[P_RESIZE] == 0 and wanted * current > 0:
                # a strategy that enters and holds: an open position on the wanted side stays
                decisions[k, D_ACTION] = HOLD
                decisions[k, D_REASON] = R_AT_TARGET
                continue
            adds = abs(wanted) > abs(current) + DUST or wanted * current < 0
            passed = True
            if audit or (adds and params[P_PAUSED] == 0):
                if n_rows < 0:
                    n_rows = window_rows(ts, market, avail, t, as_of, params, rows)
                passed = risk_checks(
                    k,
                    price,
                    wanted,
                    rules,
                    equity[t],
                    positions,
                    pending,
                    ts,
                    market,
                    avail,
                    t,
                    as_of,
                    params,
                    rows,
                    n_rows,
                    checks[k],
                )
            if adds and params[P_PAUSED] > 0:
                passed = False  # paused by a human: nothing adds risk, as under the kill switch
            if not passed and adds:
                if wanted * current < 0:
                    wanted = 0.0  # a flip: close the old side at least
                    decisions[k, D_REASON] = R_FLIP_CLOSING
                else:
                    decisions[k, D_ACTION] = BLOCKED
                    decisions[k, D_REASON] = R_BLOCKED
                    continue
            # closing goes to exactly zero (what is held is already on the market's steps)
            delta = (
                -current if abs(wanted) < DUST else round_amount(wanted - current, rules[k, M_STEP])
            )
            decisions[k, D_DELTA] = delta
            band = params[P_REBALANCE] * allocation
            if abs(delta) < DUST:
                decisions[k, D_ACTION] = HOLD
                decisions[k, D_REASON] = R_AT_TARGET
                continue
            if abs(wanted) > DUST and abs(delta) * price < band:
                decisions[k, D_ACTION] = HOLD
                decisions[k, D_REASON] = R_BAND
                continue
            # the exchange's minimum notional is in the quote currency
            small = too_small(delta, quote_price, rules[k, M_MIN_AMOUNT], rules[k, M_MIN_COST])
            if small != R_NONE:
                decisions[k, D_ACTION] = HOLD
                decisions[k, D_REASON] = small
                continue
            o = counts[0]
            orders[o, 0] = k
            orders[o, 1] = t
            orders[o, 2] = delta
            orders[o, 3] = market[t, k, VOL]
            orders[o, 4] = t + 1
            order_state[o] = 0
            counts[0] = o + 1
            pending[k] += delta
            decisions[k, D_ACTION] = ORDER
            if decisions[k, D_REASON] == R_NONE:
                decisions[k, D_REASON] = R_ORDER
            decisions[k, D_ORDER] = o
        for k in range(n_symbols):
            actions[t, k] = decisions[k, D_ACTION]
            if tally is not None:
                tally[int(decisions[k, D_REASON])] += 1
                if decisions[k, D_ACTION] == BLOCKED:  # its checks ran on this bar
                    for i in range(N_CHECKS):
                        if checks[k, i, PASSED] == 0.0:
                            tally[N_REASONS + i] += 1


@njit(cache=True)
def run_bars(
    first: int,
    last: int,
    ts,
    avail,
    market,
    targets,
    rules,
    params,
    account,
    positions,
    orders,
    order_state,
    fills,
    counts,
    equity,
    actions,
    tally=None,
) -> None:
    """:func:`step_bars` over every bar ``first..last`` (inclusive), oldest first: a backtest.
    ``actions[t, k]`` keeps what each decision did, ``tally`` counts why."""
    n_symbols = market.shape[1]
    decisions = np.zeros((n_symbols, N_DECISION))
    checks = np.zeros((n_symbols, N_CHECKS, 3))
    rows = np.zeros(int(params[P_CORR_WINDOW]) + 1, dtype=np.int64)
    scratch = np.zeros(n_symbols)
    step_bars(
        first,
        last,
        0,
        ts,
        avail,
        market,
        targets,
        rules,
        params,
        account,
        positions,
        orders,
        order_state,
        fills,
        counts,
        equity,
        decisions,
        checks,
        False,
        rows,
        scratch,
        actions,
        tally,
    )


# -- the Python side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreParams:
    """The numbers the core runs with: risk limits, sizing, the paper broker's costs and the
    windows of the correlation and liquidity checks."""

    max_position_size: float
    max_daily_loss: float
    max_drawdown: float
    correlation_limit: float
    leverage_limit: float
    volatility_threshold: float
    liquidity_minimum: float
    spread_maximum: float
    rebalance_threshold: float
    fee: float
    spread: float
    slippage: float
    impact: float
    correlation_window: int
    liquidity_window: int
    bar_ns: int
    #: fill open orders in the core (paper); live fills come from the exchange
    paper_fills: bool = True
    #: False: a position already on the wanted side is held, never resized (enter and hold)
    resize: bool = True
    #: trading paused (``cryptobot trade pause``, Telegram ``/pause``): no order adds risk;
    #: reducing and closing still go, as under the kill switch
    paused: bool = False

    @classmethod
    def from_settings(
        cls,
        settings,
        bar_seconds: int,
        *,
        paper: bool = True,
        resize: bool = True,
        paused: bool = False,
    ) -> CoreParams:
        risk, trading = settings.risk, settings.trading
        return cls(
            max_position_size=risk.max_position_size,
            max_daily_loss=risk.max_daily_loss,
            max_drawdown=risk.max_drawdown,
            correlation_limit=risk.correlation_limit,
            leverage_limit=risk.leverage_limit,
            volatility_threshold=risk.volatility_threshold,
            liquidity_minimum=risk.liquidity_minimum,
            spread_maximum=risk.spread_maximum,
            rebalance_threshold=trading.rebalance_threshold,
            fee=trading.fee,
            spread=trading.spread,
            slippage=trading.slippage,
            impact=trading.impact,
            correlation_window=window_bars(
                trading.correlation_window, bar_seconds, "trading.correlation_window"
            ),
            liquidity_window=window_bars(
                trading.liquidity_window, bar_seconds, "trading.liquidity_window"
            ),
            bar_ns=bar_seconds * 1_000_000_000,
            paper_fills=paper,
            resize=resize,
            paused=paused,
        )

    def array(self) -> np.ndarray:
        out = np.zeros(N_PARAMS)
        out[P_MAX_POSITION] = self.max_position_size
        out[P_MAX_DAILY_LOSS] = self.max_daily_loss
        out[P_MAX_DRAWDOWN] = self.max_drawdown
        out[P_CORRELATION] = self.correlation_limit
        out[P_LEVERAGE] = self.leverage_limit
        out[P_VOLATILITY] = self.volatility_threshold
        out[P_LIQUIDITY] = self.liquidity_minimum
        out[P_SPREAD_MAX] = self.spread_maximum
        out[P_REBALANCE] = self.rebalance_threshold
        out[P_FEE] = self.fee
        out[P_SPREAD] = self.spread
        out[P_SLIPPAGE] = self.slippage
        out[P_IMPACT] = self.impact
        out[P_CORR_WINDOW] = self.correlation_window
        out[P_LIQ_WINDOW] = self.liquidity_window
        out[P_BAR_NS] = self.bar_ns
        out[P_FILL] = 1.0 if self.paper_fills else 0.0
        out[P_RESIZE] = 1.0 if self.resize else 0.0
        out[P_PAUSED] = 1.0 if self.paused else 0.0
        return out


class Book:
    """The state the core updates in place: account, positions, orders and fills, equity."""

    def __init__(self, n_bars: int, n_symbols: int, capital: float, capacity: int | None = None):
        capacity = capacity if capacity is not None else n_bars * n_symbols + 16
        self.account = np.zeros(N_ACCOUNT)
        self.account[A_CASH] = capital
        self.positions = np.zeros((n_symbols, N_POSITION))
        self.positions[:, S_AVG] = np.nan
        self.positions[:, S_MARK] = np.nan
        self.orders = np.zeros((capacity, 5))
        self.order_state = np.zeros(capacity, dtype=np.int8)
        self.fills = np.zeros((capacity, N_FILL))
        self.counts = np.zeros(3, dtype=np.int64)
        self.equity = np.full((n_bars, N_EQUITY), np.nan)
        self.equity[:, E_MARKED] = 0.0

    def state(self) -> tuple:
        """The arrays :func:`step_bars` updates, in its argument order (``*book.state()``)."""
        return (
            self.account,
            self.positions,
            self.orders,
            self.order_state,
            self.fills,
            self.counts,
            self.equity,
        )

    def add_order(self, symbol: int, bar: int, signed_amount: float, volatility: float) -> int:
        """Put an order decided at ``bar`` (from the warehouse) on the book; returns its number."""
        o = int(self.counts[0])
        self.orders[o] = (symbol, bar, signed_amount, volatility, bar + 1)
        self.order_state[o] = 0
        self.counts[0] = o + 1
        return o

    def set_previous(self, peak: float, day_start: float, day_of: int) -> None:
        """The account's last equity point (its peak and the day's opening equity carry on)."""
        self.account[A_HAS_PREV] = 1.0
        self.account[A_PEAK] = peak
        self.account[A_DAY_START] = day_start
        self.account[A_DAY] = day_of // DAY_NS
