-- Run once by the postgres image when its data volume is new: the Prefect server's own database.
CREATE DATABASE prefect;
