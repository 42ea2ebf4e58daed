"""OPTIONS: a JSON:API document describing the endpoint.

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from rest_framework_json_api.metadata import JSONAPIMetadata


class Metadata(JSONAPIMetadata):
    """OPTIONS answers with a JSON:API document whose top-level `meta` describes the endpoint."""

    def determine_metadata(self, request, view):
        description = super().determine_metadata(request, view)
        view.resource_name = False  # render the document as built, not as a resource
        return {"meta": description}
