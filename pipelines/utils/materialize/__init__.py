"""
The generic `materialize` flow: `dbt build` of one model of `queries/` (with its upstream and
downstream models when asked) on the dbt target of the environment and materialization mode.
"""
