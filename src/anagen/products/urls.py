from django.urls import path

from anagen.products import views

app_name = "products"
urlpatterns = [
    path("", views.lot_list, name="lots"),
    path("lots/receive/", views.lot_receive, name="receive"),
    path("lots/import/", views.lot_import, name="import"),
    path("lots/<int:lot_id>/", views.lot_detail, name="lot"),
    path("lots/<int:lot_id>/correct/", views.lot_correct, name="correct"),
    path("lots/<int:lot_id>/coa/", views.coa_edit, name="coa"),
    path("lots/<int:lot_id>/coa.pdf", views.coa_pdf, name="coa_pdf"),
    path(
        "lots/<int:lot_id>/documents/<int:document_id>.pdf",
        views.supplier_document,
        name="supplier_document",
    ),
    path("lots/<int:lot_id>/release/", views.lot_release, name="release"),
    path("lots/<int:lot_id>/reject/", views.lot_reject, name="reject"),
    path("lots/<int:lot_id>/override/", views.override_request, name="override"),
    path("lots/<int:lot_id>/override/approve/", views.override_approve, name="override_approve"),
    path("lots/<int:lot_id>/excursions/decide/", views.excursion_decide, name="excursion_decide"),
    path("lots/<int:lot_id>/waste/", views.lot_waste, name="waste"),
    path("lots/<int:lot_id>/trace/", views.lot_trace, name="trace"),
    path("lots/<int:lot_id>/recall/", views.lot_recall, name="recall"),
    path("lots/<int:lot_id>/recall.csv", views.recall_csv, name="recall_csv"),
    path("lots/<int:lot_id>/recall-notice.pdf", views.recall_pdf, name="recall_pdf"),
    path("patients/<int:patient_id>/lots/", views.patient_lots, name="patient_lots"),
    path("catalogue/", views.product_list, name="products"),
    path("catalogue/new/", views.product_create, name="product_create"),
    path("catalogue/<int:product_id>/", views.product_detail, name="product"),
    path("catalogue/<int:product_id>/edit/", views.product_edit, name="product_edit"),
    path("storage/", views.location_list, name="locations"),
    path("storage/new/", views.location_create, name="location_create"),
    path("storage/<int:location_id>/", views.location_detail, name="location"),
    path("storage/<int:location_id>/readings/", views.reading_add, name="reading_add"),
    path("storage/<int:location_id>/readings/import/", views.reading_import, name="reading_import"),
    path(
        "storage/<int:location_id>/readings/<int:reading_id>/void/",
        views.reading_void,
        name="reading_void",
    ),
    path("specs/", views.spec_list, name="specs"),
    path("specs/new/", views.spec_create, name="spec_create"),
    path("settings/", views.settings_edit, name="settings"),
]
