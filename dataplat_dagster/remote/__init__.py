"""Running the Spark work away from this process: a dataflow run submitted to AWS EMR Serverless.

`emr_resource` holds the EMR settings, `emr_package` ships the project and the entry point to
S3, `emr_request` builds the job run, `emr_submit` starts and watches it through Dagster Pipes,
`emr_driver` is the entry point that runs `dataplat run` on the cluster, `emr_cli` is
`dataplat emr submit`. (Spark Connect needs none of this: the Spark engine's `remote` setting.)
"""
