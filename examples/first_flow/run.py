# arquivo: run.py
from flows import users_report

users_report()
