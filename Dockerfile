# Placeholder: the production image (multi-stage, CPU torch, non-root, one image for every
# role) is built in the deployment work item. Until then, run locally with `make run`.
FROM python:3.11-slim
RUN useradd --create-home nexus
USER nexus
CMD ["python", "-c", "print('Trade Nexus image not built yet; see README (make run).')"]
