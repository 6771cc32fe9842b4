"""The domain of qiaoqiao and its storage: schools, staff, letters, keys, audit.

Nothing here knows about HTTP. Every function takes what it needs (a database
session, a school, a clock, the sealing configuration) as keyword arguments.
"""
