"""Measurement and verification (pure: numpy, pandas, scipy): CalTRACK 2.0 daily change-point models,
baseline sufficiency, the temperature range check and ASHRAE Guideline 14 savings uncertainty.

``sbems.mv.savings.estimate_savings`` is the entry point (plain daily data in, ``MVResult`` out);
``sbems.mv.daily`` turns meter power series into daily energy. See docs/savings.md.
"""
