# The sha256 of the last signed config payload pushed to a device (cameras.edgeconfig): the
# config version only increases when the payload changes.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cameras', '0002_edge_enrollment'),
    ]

    operations = [
        migrations.AddField(
            model_name='edgedevice',
            name='config_sha256',
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
