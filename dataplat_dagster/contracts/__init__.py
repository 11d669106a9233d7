"""Table contracts: SQLModel classes that declare a table's columns.

`dataplat targets` deploys them to SQL targets and checks them there.
"""
